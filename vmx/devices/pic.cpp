#include "vmx/devices/pic.hpp"

namespace vmx {

int Pic::Chip::best() const {
    const std::uint8_t requests = static_cast<std::uint8_t>(irr & ~imr);
    for (unsigned level = 0; level < 8; ++level) {
        const std::uint8_t bit = static_cast<std::uint8_t>(1u << level);
        if ((isr & bit) != 0) return -1; // an equal or higher level is in service
        if ((requests & bit) != 0) return static_cast<int>(level);
    }
    return -1;
}

void Pic::Chip::command(std::uint8_t value) {
    if ((value & 0x10) != 0) { // ICW1: start initialisation
        init_step = 2;
        needs_icw4 = (value & 0x01) != 0;
        single = (value & 0x02) != 0;
        imr = 0;
        isr = 0;
        irr = 0;
        auto_eoi = false;
        read_isr = false;
        return;
    }
    if ((value & 0x08) != 0) { // OCW3
        if ((value & 0x02) != 0) read_isr = (value & 0x01) != 0;
        return;
    }
    // OCW2: bits 7:5 = R, SL, EOI.
    const unsigned op = value >> 5;
    if (op == 1 || op == 5) { // non-specific EOI (with or without rotation)
        for (unsigned level = 0; level < 8; ++level) {
            if ((isr & (1u << level)) != 0) {
                isr = static_cast<std::uint8_t>(isr & ~(1u << level));
                break;
            }
        }
    } else if (op == 3 || op == 7) { // specific EOI of level bits 2:0
        isr = static_cast<std::uint8_t>(isr & ~(1u << (value & 7u)));
    }
}

void Pic::Chip::data(std::uint8_t value) {
    switch (init_step) {
    case 2:
        base = static_cast<std::uint8_t>(value & 0xf8u);
        init_step = single ? (needs_icw4 ? 4 : 0) : 3;
        return;
    case 3:
        init_step = needs_icw4 ? 4 : 0; // ICW3: the cascade wiring is fixed here
        return;
    case 4:
        auto_eoi = (value & 0x02) != 0;
        init_step = 0;
        return;
    default: imr = value; // OCW1
    }
}

std::uint8_t Pic::read(std::uint16_t port) const {
    const Chip& c = (port == master_command || port == master_data) ? master_ : slave_;
    if (port == master_data || port == slave_data) return c.imr;
    return c.read_isr ? c.isr : c.irr;
}

void Pic::write(std::uint16_t port, std::uint8_t value) {
    Chip& c = (port == master_command || port == master_data) ? master_ : slave_;
    if (port == master_command || port == slave_command) {
        c.command(value);
    } else {
        c.data(value);
    }
}

void Pic::raise(unsigned irq) {
    if (irq >= 16) return;
    if (irq < 8) {
        master_.irr = static_cast<std::uint8_t>(master_.irr | (1u << irq));
    } else {
        slave_.irr = static_cast<std::uint8_t>(slave_.irr | (1u << (irq - 8)));
    }
}

int Pic::pending() const {
    // The slave's output drives the master's IRQ 2 (level: it stays up while the slave has a
    // request to serve).
    Chip m = master_;
    if (slave_.best() >= 0) m.irr = static_cast<std::uint8_t>(m.irr | (1u << cascade_irq));
    const int level = m.best();
    if (level < 0) return -1;
    if (static_cast<unsigned>(level) == cascade_irq && slave_.best() >= 0) return slave_.base + slave_.best();
    return master_.base + level;
}

int Pic::acknowledge() {
    const int vector = pending();
    if (vector < 0) return -1;
    ++acknowledged;
    const int slave_level = slave_.best();
    Chip m = master_;
    if (slave_level >= 0) m.irr = static_cast<std::uint8_t>(m.irr | (1u << cascade_irq));
    const auto level = static_cast<unsigned>(m.best());
    if (level == cascade_irq && slave_level >= 0) {
        const auto s = static_cast<unsigned>(slave_level);
        slave_.irr = static_cast<std::uint8_t>(slave_.irr & ~(1u << s));
        if (!slave_.auto_eoi) slave_.isr = static_cast<std::uint8_t>(slave_.isr | (1u << s));
    }
    master_.irr = static_cast<std::uint8_t>(master_.irr & ~(1u << level));
    if (!master_.auto_eoi) master_.isr = static_cast<std::uint8_t>(master_.isr | (1u << level));
    return vector;
}

} // namespace vmx
