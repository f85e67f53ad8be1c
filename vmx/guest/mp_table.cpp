#include "vmx/guest/mp_table.hpp"

#include "vmx/lib/little_endian.hpp"

namespace vmx {
namespace {

constexpr std::size_t floating_size = 16;
constexpr std::size_t header_size = 44;
constexpr std::uint8_t spec_revision = 4; // MP specification 1.4

// Entry types and their fields (MP spec, "Base MP Configuration Table Entries").
constexpr std::uint8_t entry_processor = 0, entry_bus = 1, entry_local_interrupt = 4;
constexpr std::uint8_t cpu_enabled = 1, cpu_bootstrap = 2;
constexpr std::uint8_t int_nmi = 1, int_extint = 3;
constexpr std::uint8_t all_local_apics = 0xff;

void put_text(std::uint8_t* p, const char* s, std::size_t n) {
    std::size_t i = 0;
    for (; s[i] != '\0' && i < n; ++i) p[i] = static_cast<std::uint8_t>(s[i]);
    for (; i < n; ++i) p[i] = ' ';
}

// The checksum byte that makes the bytes of [p, p + n) sum to zero.
std::uint8_t checksum(const std::uint8_t* p, std::size_t n) {
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum = static_cast<std::uint8_t>(sum + p[i]);
    return static_cast<std::uint8_t>(-sum);
}

void local_interrupt(std::uint8_t* e, std::uint8_t type, std::uint8_t lint) {
    e[0] = entry_local_interrupt;
    e[1] = type;
    store_le(e + 2, 0, 2); // polarity and trigger conform to the bus
    e[4] = 0;              // source bus: ISA
    e[5] = 0;              // source IRQ
    e[6] = all_local_apics;
    e[7] = lint;
}

} // namespace

bool write_mp_table(std::uint8_t* at, std::uint64_t gpa, std::size_t capacity, const MpProcessor& cpu) {
    if (capacity < mp_table_size || gpa % 16 != 0 || gpa + mp_table_size > (1ull << 32)) return false;
    for (std::size_t i = 0; i < mp_table_size; ++i) at[i] = 0;

    std::uint8_t* table = at + floating_size;
    const std::size_t table_length = mp_table_size - floating_size;
    std::uint8_t* e = table + header_size;
    e[0] = entry_processor;
    e[1] = cpu.apic_id;
    e[2] = cpu.apic_version;
    e[3] = cpu_enabled | cpu_bootstrap;
    store_le(e + 4, cpu.signature, 4);
    store_le(e + 8, cpu.features, 4);
    e += 20;
    e[0] = entry_bus;
    e[1] = 0;
    put_text(e + 2, "ISA", 6);
    e += 8;
    local_interrupt(e, int_extint, 0); // the 8259's INTR on LINT0 (virtual wire)
    e += 8;
    local_interrupt(e, int_nmi, 1);

    put_text(table, "PCMP", 4);
    store_le(table + 4, table_length, 2);
    table[6] = spec_revision;
    put_text(table + 8, "METRONOM", 8);
    put_text(table + 16, "METRONOME", 12);
    store_le(table + 34, 5, 2); // entries
    store_le(table + 36, mp_local_apic_address, 4);
    table[7] = checksum(table, table_length);

    put_text(at, "_MP_", 4);
    store_le(at + 4, gpa + floating_size, 4);
    at[8] = 1; // length in 16-byte units
    at[9] = spec_revision;
    at[11] = 0; // feature byte 1: 0 = the configuration table is present, no default configuration
    at[12] = 0; // feature byte 2, bit 7 (IMCR) clear: virtual-wire mode, no IMCR to program
    at[10] = checksum(at, floating_size);
    return true;
}

} // namespace vmx
