// The pair of 8259A programmable interrupt controllers of a PC (Intel 8259A data sheet): the
// master at ports 0x20/0x21, the slave at 0xA0/0xA1 cascaded on the master's IRQ 2. Linux
// guests need it for one thing, the serial port's IRQ 4, which reaches the processor through the
// local APIC's LINT0 in ExtINT mode (virtual wire). What is emulated: the initialisation words
// (ICW1-ICW4, with auto-EOI), the mask (OCW1), specific and non-specific EOI (OCW2), reading IRR
// or ISR (OCW3), edge-triggered requests and fully nested priority with IRQ 0 highest. Not
// emulated (no PC guest of today uses them): priority rotation, special mask mode, polling,
// level-triggered mode. Pure.
#pragma once
#include <cstdint>

namespace vmx {

class Pic {
  public:
    static constexpr std::uint16_t master_command = 0x20, master_data = 0x21;
    static constexpr std::uint16_t slave_command = 0xa0, slave_data = 0xa1;
    static bool owns(std::uint16_t port) {
        return port == master_command || port == master_data || port == slave_command || port == slave_data;
    }

    std::uint8_t read(std::uint16_t port) const;
    void write(std::uint16_t port, std::uint8_t value);

    // An edge on IRQ line `irq` (0..15).
    void raise(unsigned irq);
    // The vector the pair presents to the processor now, or -1 (INTR is low).
    int pending() const;
    // The processor's interrupt acknowledge: the vector, with its in-service bits set (unless
    // auto-EOI) and its request cleared; -1 when nothing is pending.
    int acknowledge();

    std::uint64_t acknowledged = 0;

  private:
    struct Chip {
        std::uint8_t irr = 0, imr = 0xff, isr = 0;
        std::uint8_t base = 0;        // ICW2: vector of IRQ 0
        std::uint8_t init_step = 0;   // 0 ready; 2, 3, 4: the ICW expected next
        bool needs_icw4 = false;
        bool single = false;          // ICW1 SNGL: no ICW3
        bool auto_eoi = false;
        bool read_isr = false;        // OCW3: the command port reads ISR (else IRR)
        // The request to serve: the highest-priority unmasked request above every in-service
        // level (fully nested mode), or -1.
        int best() const;
        void command(std::uint8_t value);
        void data(std::uint8_t value);
    };
    Chip master_, slave_;
    static constexpr unsigned cascade_irq = 2;
};

} // namespace vmx
