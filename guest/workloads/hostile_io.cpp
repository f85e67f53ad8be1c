// portsweep: I/O to every port, 0 to 0xFFFF, including the hypervisor's serial port
// (0x3F8-0x3FF), the emulators' shutdown ports (Bochs 0x8900, QEMU's isa-debug-exit 0xF4, ACPI
// power-off 0x604/0xB004), the reset ports (0x64, 0xCF9, 0x92) and PCI configuration
// (0xCF8/0xCFC). guest/ABI.md section 10: every IN reads all ones, every OUT is dropped (only 8-bit
// OUT to the console port 0xE9 prints, so the sweep leaves that one out). The guest first writes
// the dangerous values on purpose (the "Shutdown" string, resets, power-off), then sweeps: IN and
// OUT of a byte at every port, then word and dword at the special ports, then string I/O. It prints
//   hostile_io: inb all ones at N/65536 ports; outb to 65535 ports; wide ins all ones W/X; ...
// and then keeps writing garbage to the serial port and reading its status forever (progress + 1
// per round): the hypervisor's own serial output must stay intact and the machine must not stop.
#include "workloads/hostile.hpp"

namespace {

std::uint8_t inb(std::uint16_t port) {
    std::uint8_t v = 0;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
std::uint16_t inw(std::uint16_t port) {
    std::uint16_t v = 0;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
std::uint32_t inl(std::uint16_t port) {
    std::uint32_t v = 0;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
void outb(std::uint16_t port, std::uint8_t v) {
    asm volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
void outw(std::uint16_t port, std::uint16_t v) {
    asm volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
void outl(std::uint16_t port, std::uint32_t v) {
    asm volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

constexpr std::uint16_t console = metronome::abi::console_port;
constexpr std::uint16_t special[] = {0x3f8,  0x3f9, 0x3fa, 0x3fb,  0x3fc, 0x3fd, 0x3fe, 0x3ff,
                                     0x8900, 0xf4,  0x604, 0xb004, 0x64,  0xcf9, 0x92,  0xcf8,
                                     0xcfc,  0x20,  0x21,  0xa0,   0xa1,  0x40,  0x43,  0x70,
                                     0x71,   0x402, 0x510, 0x511,  0xb2,  0x80,  0x1f0, 0xffff};


void dangerous_writes() {
    for (const char* c = "Shutdown"; *c != '\0'; ++c)
        outb(0x8900, static_cast<std::uint8_t>(*c)); // Bochs: power off
    outb(0xf4, 0x31);                                // QEMU isa-debug-exit
    outw(0x604, 0x2000);                             // QEMU q35 ACPI power off
    outw(0xb004, 0x2000);                            // Bochs/old QEMU ACPI power off
    outb(0x64, 0xfe);                                // keyboard controller: pulse reset
    outb(0xcf9, 0x0e);                               // reset control: full reset
    outb(0x92, 0x01);                                // fast reset
    outb(0x3fb, 0x80);                               // serial: DLAB on (garbles the baud rate)
    outb(0x3f8, 0x01);
    outb(0x3f9, 0x00);
    outb(0x3fb, 0x00);
    outb(0x3f9, 0x0f); // serial: all interrupts on
    outb(0x3fc, 0x10); // serial: loopback
    outb(0x21, 0x00);  // PIC: unmask everything
    outb(0xa1, 0x00);
    outb(0x43, 0x34); // PIT: fast periodic interrupts
    outb(0x40, 0x01);
    outb(0x40, 0x00);
    outb(0xb2, 0x00); // APM: raise an SMI
}

} // namespace

void workloads::hostile_io(const StartInfo&) {
    guest::console_line("portsweep: started");
    dangerous_writes();
    std::uint64_t ones = 0, written = 0;
    for (std::uint32_t port = 0; port <= 0xffff; ++port) {
        if (inb(static_cast<std::uint16_t>(port)) == 0xff) ++ones;
        if (port == console) continue;
        outb(static_cast<std::uint16_t>(port), 0xfe);
        ++written;
    }
    unsigned wide_ones = 0, wide = 0;
    for (std::uint16_t port : special) {
        wide_ones += inw(port) == 0xffff;
        wide_ones += inl(port) == 0xffffffffu;
        wide += 2;
        outw(port, 0xfefe);
        outl(port, 0x8000'00fe);
    }
    outl(0xcf8, 0x8000'0000); // PCI: bus 0 device 0 function 0, offset 0
    wide_ones += inl(0xcfc) == 0xffffffffu;
    ++wide;
    // String I/O: 4096 bytes from the serial status register, 4096 bytes of garbage to the
    // serial data register, and the shutdown string again, each one REP instruction.
    std::uint8_t* const buffer = workloads::scratch_page();
    for (std::size_t i = 0; i < workloads::scratch_page_size; ++i)
        buffer[i] = 0;
    {
        void* dst = workloads::scratch_page();
        std::uint64_t count = workloads::scratch_page_size;
        asm volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(std::uint16_t{0x3fd}) : "memory");
    }
    unsigned string_ones = 0;
    for (std::size_t i = 0; i < workloads::scratch_page_size; ++i)
        string_ones += buffer[i] == 0xff;
    for (unsigned i = 0; i < workloads::scratch_page_size; ++i)
        buffer[i] = static_cast<std::uint8_t>(i * 7 + 1);
    {
        const void* src = workloads::scratch_page();
        std::uint64_t count = workloads::scratch_page_size;
        asm volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(std::uint16_t{0x3f8}) : "memory");
        const char* text = "Shutdown";
        src = text;
        count = 8;
        asm volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(std::uint16_t{0x8900}) : "memory");
    }
    guest::print("portsweep: inb all ones at ");
    guest::print_dec(ones);
    guest::print("/65536 ports; outb to ");
    guest::print_dec(written);
    guest::print(" ports; wide ins all ones ");
    guest::print_dec(wide_ones);
    guest::print_char('/');
    guest::print_dec(wide);
    guest::print("; rep insb all ones ");
    guest::print_dec(string_ones);
    guest::console_line("/4096");
    guest::enable_ticks();
    for (;;) {
        outb(0x3f8, 0x07);
        outb(0x8900, 'S');
        inb(0x3fd);
        guest::progress_inc();
    }
}
