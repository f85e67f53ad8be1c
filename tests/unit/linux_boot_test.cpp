// Booting a vmlinux: the kernel's ELF by physical address, the initrd's place, boot_params, the
// e820 map, the command line, the identity map and the MP table (vmx/guest/linux_boot.hpp).
#include "vmx/guest/linux_boot.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "elf_builder.hpp"
#include "vmx/guest/linux_abi.hpp"
#include "vmx/lib/little_endian.hpp"

using testing_support::Elf;
using testing_support::Seg;

namespace {

constexpr std::uint64_t mib = 1ull << 20;

// A vmlinux in miniature: linked at 0xffffffff81000000, loaded at 16 MiB, and a per-CPU segment
// linked at virtual 0, as Debian's kernel has.
Elf vmlinux() {
    Elf e;
    e.size = 0x4000;
    e.segs.resize(2);
    e.segs[0] = Seg{1, 5, 0x1000, 0xffffffff81000000ull, 16 * mib, 0x1000, 0x1000};
    e.segs[1] = Seg{1, 6, 0x2000, 0, 18 * mib, 0x1000, 4 * mib};
    e.entry = 16 * mib;
    return e;
}

vmx::ElfImage parse_kernel(const Elf& e, std::uint64_t memory) {
    const auto bytes = e.bytes();
    vmx::ElfImage k;
    vmx::parse_elf_kernel(bytes.data(), bytes.size(), memory, vmx::linux_layout::kernel_lowest, k);
    return k;
}

vmx::LinuxBootPlan plan(const Elf& e, std::uint64_t memory, std::uint64_t initrd, std::size_t cmdline = 10) {
    vmx::LinuxBootPlan p;
    vmx::plan_linux_boot(parse_kernel(e, memory), memory, initrd, cmdline, p);
    return p;
}

std::uint64_t le(const std::vector<std::uint8_t>& m, std::uint64_t at, unsigned bytes) {
    return vmx::load_le(m.data() + at, bytes);
}

} // namespace

TEST_CASE("linux boot: a vmlinux is placed by physical address, not by its link address") {
    const vmx::ElfImage k = parse_kernel(vmlinux(), 128 * mib);
    REQUIRE(k.ok);
    CHECK(k.segment_count == 2);
    CHECK(k.segments[0].gpa == 16 * mib);
    CHECK(k.segments[1].gpa == 18 * mib);
    CHECK(k.entry == 16 * mib);
}

TEST_CASE("linux boot: the same file as a guest image is refused (not identity-linked)") {
    const auto bytes = vmlinux().bytes();
    vmx::ElfImage img;
    vmx::parse_elf_image(bytes.data(), bytes.size(), 128 * mib, img);
    CHECK_FALSE(img.ok);
    CHECK(std::string(img.error).find("identity-mapped") != std::string::npos);
}

TEST_CASE("linux boot: a kernel beyond memory, below 1 MiB, or not for x86-64 is refused by name") {
    Elf big = vmlinux();
    big.segs[1].memsz = 200 * mib;
    CHECK(std::string(parse_kernel(big, 128 * mib).error).find("outside the guest's") != std::string::npos);
    Elf low = vmlinux();
    low.segs[0].paddr = 0x80000;
    low.entry = 0x80000;
    CHECK(std::string(parse_kernel(low, 128 * mib).error).find("legacy first MiB") != std::string::npos);
    Elf arm = vmlinux();
    arm.machine = 183; // AArch64
    CHECK(std::string(parse_kernel(arm, 128 * mib).error).find("not x86-64") != std::string::npos);
}

TEST_CASE("linux boot: the kernel must start 2 MiB aligned") {
    Elf odd = vmlinux();
    odd.segs[0].paddr = 17 * mib;
    odd.entry = 17 * mib;
    const auto p = plan(odd, 128 * mib, 0);
    CHECK_FALSE(p.ok);
    CHECK(std::string(p.error).find("2 MiB aligned") != std::string::npos);
}

TEST_CASE("linux boot: the initrd goes to the highest 2 MiB boundary that lets it end inside memory") {
    const auto p = plan(vmlinux(), 128 * mib, 5 * mib + 123);
    REQUIRE(p.ok);
    CHECK(p.initrd_gpa == 122 * mib);
    CHECK(p.initrd_gpa + p.initrd_size <= 128 * mib);
    CHECK(p.kernel_end == 22 * mib);
    const auto none = plan(vmlinux(), 128 * mib, 0);
    CHECK(none.initrd_gpa == 0);
    // 2 GiB of memory: the initrd still ends below 2 GiB (initrd_addr_max).
    const auto top = plan(vmlinux(), 2048 * mib, 3 * mib);
    REQUIRE(top.ok);
    CHECK(top.initrd_gpa + top.initrd_size <= (2048 * mib));
}

TEST_CASE("linux boot: an initrd that does not fit above the kernel, or a long command line, is refused") {
    const auto big = plan(vmlinux(), 128 * mib, 110 * mib);
    CHECK_FALSE(big.ok);
    CHECK(std::string(big.error).find("does not fit") != std::string::npos);
    const auto line = plan(vmlinux(), 128 * mib, 0, 2048);
    CHECK_FALSE(line.ok);
    CHECK(std::string(line.error).find("at most 2047") != std::string::npos);
    CHECK(plan(vmlinux(), 128 * mib, 0, 2047).ok);
    CHECK_FALSE(plan(vmlinux(), 127 * mib + 12345, 0).ok);
}

TEST_CASE("linux boot: boot_params carries the header the kernel checks, the e820 map and the initrd") {
    std::vector<std::uint8_t> m(128 * mib);
    const auto p = plan(vmlinux(), m.size(), 4096);
    REQUIRE(p.ok);
    const char* line = "console=ttyS0 quiet";
    vmx::LinuxBootPlan q;
    vmx::plan_linux_boot(parse_kernel(vmlinux(), m.size()), m.size(), 4096, std::strlen(line), q);
    REQUIRE(vmx::write_linux_boot(m.data(), m.size(), q, line, vmx::MpProcessor{}));
    namespace h = vmx::linux_abi::header;
    const std::uint64_t bp = vmx::linux_layout::boot_params;
    CHECK(le(m, bp + h::boot_flag, 2) == 0xaa55);
    CHECK(le(m, bp + h::magic, 4) == 0x53726448);
    CHECK(m[bp + h::type_of_loader] == 0xff);
    CHECK(m[bp + vmx::linux_abi::zero_page::sentinel] == 0);
    CHECK(le(m, bp + h::ramdisk_image, 4) == q.initrd_gpa);
    CHECK(le(m, bp + h::ramdisk_size, 4) == 4096);
    const std::uint64_t cmd = le(m, bp + h::cmd_line_ptr, 4);
    CHECK(std::string(reinterpret_cast<const char*>(m.data() + cmd)) == line);
    // e820: RAM below 0x9fc00, reserved to 1 MiB, RAM from 1 MiB to the end.
    CHECK(m[bp + vmx::linux_abi::zero_page::e820_entries] == 3);
    const std::uint64_t t = bp + vmx::linux_abi::zero_page::e820_table;
    CHECK(le(m, t, 8) == 0);
    CHECK(le(m, t + 8, 8) == 0x9fc00);
    CHECK(le(m, t + 16, 4) == 1);
    CHECK(le(m, t + 20, 8) == 0x9fc00);
    CHECK(le(m, t + 36, 4) == 2);
    CHECK(le(m, t + 40, 8) == mib);
    CHECK(le(m, t + 48, 8) == 127 * mib);
    CHECK(le(m, t + 56, 4) == 1);
}

TEST_CASE("linux boot: the page tables identity-map the memory with 2 MiB pages") {
    std::vector<std::uint8_t> m(256 * mib);
    vmx::LinuxBootPlan q;
    vmx::plan_linux_boot(parse_kernel(vmlinux(), m.size()), m.size(), 0, 0, q);
    REQUIRE(vmx::write_linux_boot(m.data(), m.size(), q, "", vmx::MpProcessor{}));
    namespace L = vmx::linux_layout;
    CHECK((le(m, L::pml4, 8) & ~0xfffull) == L::pdpt);
    const std::uint64_t pd = le(m, L::pdpt, 8) & ~0xfffull;
    CHECK(pd == L::page_directories);
    CHECK(le(m, pd + 8 * 8, 8) == (8 * 2 * mib | 0x83));     // 16 MiB: the kernel's entry
    CHECK(le(m, pd + 8 * 127, 8) == (127 * 2 * mib | 0x83)); // the last page of 256 MiB
    const auto entry = vmx::linux_entry_state(q, false, true);
    CHECK(entry.rip == 16 * mib);
    CHECK(entry.rsi == L::boot_params);
    CHECK(entry.cr3 == L::pml4);
    CHECK((entry.efer & (1u << 10)) != 0); // LMA
}

TEST_CASE("linux boot: the MP table is found where Linux scans, with valid checksums and one CPU") {
    std::vector<std::uint8_t> m(128 * mib);
    vmx::LinuxBootPlan q;
    vmx::plan_linux_boot(parse_kernel(vmlinux(), m.size()), m.size(), 0, 0, q);
    vmx::MpProcessor cpu;
    cpu.signature = 0x50654;
    REQUIRE(vmx::write_linux_boot(m.data(), m.size(), q, "", cpu));
    const std::uint64_t fp = vmx::linux_layout::mp_table;
    REQUIRE(std::memcmp(m.data() + fp, "_MP_", 4) == 0);
    std::uint8_t sum = 0;
    for (std::uint64_t i = 0; i < 16; ++i) sum = static_cast<std::uint8_t>(sum + m[fp + i]);
    CHECK(sum == 0);
    CHECK(m[fp + 8] == 1);
    CHECK((m[fp + 12] & 0x80) == 0); // no IMCR
    const std::uint64_t table = le(m, fp + 4, 4);
    REQUIRE(std::memcmp(m.data() + table, "PCMP", 4) == 0);
    const std::uint64_t length = le(m, table + 4, 2);
    sum = 0;
    for (std::uint64_t i = 0; i < length; ++i) sum = static_cast<std::uint8_t>(sum + m[table + i]);
    CHECK(sum == 0);
    CHECK(le(m, table + 36, 4) == 0xfee00000u);
    CHECK(le(m, table + 34, 2) == 5);
    const std::uint64_t processor = table + 44;
    CHECK(m[processor] == 0);
    CHECK(m[processor + 1] == 0);     // APIC ID 0
    CHECK(m[processor + 3] == 3);     // enabled, bootstrap
    CHECK(le(m, processor + 4, 4) == 0x50654);
    CHECK(vmx::linux_layout::mp_table + vmx::mp_table_size <= vmx::linux_layout::high_ram);
}
