#include "vmx/guest/ept.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

using vmx::EptMemoryType;
namespace bits = vmx::ept_bits;

static_assert(vmx::ept_pointer(0x1000, EptMemoryType::write_back, false) == 0x101e);
static_assert(vmx::ept_pointer(0x1000, EptMemoryType::write_back, true) == 0x105e);
static_assert(vmx::ept_pointer(0x12345000, EptMemoryType::uncacheable, false) == 0x12345018);
static_assert(vmx::ept_table_entry(0xabcd000) == 0xabcd007);
static_assert(vmx::ept_leaf_4k(0x5000, bits::rwx, EptMemoryType::write_back) == 0x5037);
static_assert(vmx::ept_leaf_2m(0x40200000, bits::read, EptMemoryType::uncacheable) == 0x40200081);
static_assert(vmx::ept_leaf_1g(0x40000000, bits::rwx, EptMemoryType::write_back) == 0x400000b7);
static_assert(vmx::ept_pml4_index(0x0000ff8000000000ull) == 0x1ff);
static_assert(vmx::decode_ept_violation(0x182).write);

namespace {

// IA32_VMX_* of Bochs' corei7_skylake_x, from testdata/vmx-caps.
vmx::VmxCaps bochs_caps() {
    vmx::VmxCaps c;
    c.procbased_ctls = 0xf7f9fffe0401e172;
    c.procbased_ctls2 = 0x02177fff00000000;
    c.ept_vpid_cap = 0x00000f0106334141;
    return c;
}

std::string eptp_verdict(std::uint64_t eptp, const vmx::VmxCaps& caps) {
    const char* reason = nullptr;
    if (vmx::ept_pointer_supported(eptp, caps, &reason)) return "supported";
    REQUIRE(reason != nullptr);
    return reason;
}

// A pool of zeroed, 4 KiB-aligned table pages on the host heap.
struct Pool {
    explicit Pool(std::size_t pages)
        : count(pages), memory(static_cast<std::uint64_t*>(std::aligned_alloc(4096, pages * 4096))) {
        std::memset(memory.get(), 0, pages * 4096);
    }
    struct Free {
        void operator()(std::uint64_t* p) const { std::free(p); }
    };
    std::size_t count;
    std::unique_ptr<std::uint64_t, Free> memory;
    bool contains(std::uint64_t phys) const {
        const auto base = reinterpret_cast<std::uintptr_t>(memory.get());
        return phys >= base && phys < base + count * 4096;
    }
};

const std::uint64_t* pml4_of(const vmx::EptBuilder& b) {
    return reinterpret_cast<const std::uint64_t*>(b.pml4_physical());
}

// Every 4 KiB page of [0, size) maps to base + gpa, readable, writable, executable, WB.
void check_guest_mapping(const vmx::EptBuilder& b, std::uint64_t size, std::uint64_t base) {
    std::uint64_t wrong = 0;
    for (std::uint64_t gpa = 0; gpa < size; gpa += 4096) {
        const vmx::EptWalk w = vmx::ept_walk(pml4_of(b), gpa + 0x123);
        if (!w.present || w.host_physical != base + gpa + 0x123 ||
            (w.leaf & bits::rwx) != bits::rwx || ((w.leaf >> 3) & 7) != 6)
            ++wrong;
    }
    CHECK(wrong == 0);
}

bool present(const vmx::EptBuilder& b, std::uint64_t gpa) {
    bool p = true;
    vmx::ept_translate(pml4_of(b), gpa, &p);
    return p;
}

} // namespace

TEST_CASE("EPTP layout: memory type, walk length 4, A/D flag, address") {
    CHECK(vmx::ept_pointer(0x7654321000, EptMemoryType::write_back, false) == 0x765432101e);
    CHECK((vmx::ept_pointer(0x1000, EptMemoryType::write_back, true) & 0x40) != 0);
    // Address bits outside 51:12 are dropped, not allowed to corrupt the low fields.
    CHECK(vmx::ept_pointer(0xfff0000000001fffull, EptMemoryType::uncacheable, false) == 0x1018);
}

TEST_CASE("EPTP checked against Bochs' EPT capabilities") {
    const vmx::VmxCaps caps = bochs_caps();
    CHECK(eptp_verdict(vmx::ept_pointer(0x1000, EptMemoryType::write_back, false), caps) == "supported");
    CHECK(eptp_verdict(vmx::ept_pointer(0x1000, EptMemoryType::uncacheable, true), caps) == "supported");
    CHECK(eptp_verdict(vmx::ept_pointer(0x1000, EptMemoryType::write_through, false), caps) ==
          "EPTP memory type must be UC (0) or WB (6)");
    // 5-level walk: bit 7 of Bochs' EPT_VPID_CAP is clear.
    CHECK(eptp_verdict(0x1026, caps) == "5-level EPT walk is not supported (EPT_VPID_CAP[7])");
    CHECK(eptp_verdict(0x1006, caps) == "EPTP page-walk length must be 4 or 5 levels");
    CHECK(eptp_verdict(0x111e, caps) == "EPTP bits 11:8 are reserved");
    CHECK(eptp_verdict(0x109e, caps) == "EPTP bit 7 (supervisor shadow stacks) is not supported");
    CHECK(eptp_verdict((1ull << 52) | 0x101e, caps) == "EPTP address bits above 51 are set");
    vmx::VmxCaps no_ad = caps;
    no_ad.ept_vpid_cap &= ~vmx::ept_vpid_cap::accessed_dirty;
    CHECK(eptp_verdict(0x105e, no_ad) ==
          "EPT accessed/dirty flags are not supported (EPT_VPID_CAP[21])");
    vmx::VmxCaps no_wb = caps;
    no_wb.ept_vpid_cap &= ~vmx::ept_vpid_cap::memory_type_wb;
    CHECK(eptp_verdict(0x101e, no_wb) == "EPTP memory type WB is not supported (EPT_VPID_CAP[14])");
    vmx::VmxCaps no_ept = caps;
    no_ept.procbased_ctls2 = 0;
    CHECK(eptp_verdict(0x101e, no_ept) == "this CPU does not allow \"enable EPT\"");
    CHECK(vmx::ept_supports_2m_pages(caps));
}

TEST_CASE("entries and indices") {
    CHECK(vmx::ept_leaf_4k(0x123456789000ull, bits::read | bits::execute, EptMemoryType::write_back) ==
          0x123456789035ull);
    // rwx outside bits 2:0 is ignored; 2 MiB leaves drop address bits 20:12.
    CHECK(vmx::ept_leaf_4k(0x1000, ~0ull, EptMemoryType::uncacheable) == 0x1007);
    CHECK(vmx::ept_leaf_2m(0x2ff000, bits::rwx, EptMemoryType::write_back) == 0x2000b7);
    const std::uint64_t gpa = (1ull << 39) * 3 + (1ull << 30) * 5 + (1ull << 21) * 7 + (1ull << 12) * 9 + 0x10;
    CHECK(vmx::ept_pml4_index(gpa) == 3);
    CHECK(vmx::ept_pdpt_index(gpa) == 5);
    CHECK(vmx::ept_pd_index(gpa) == 7);
    CHECK(vmx::ept_pt_index(gpa) == 9);
}

TEST_CASE("EPT-violation qualification decodes and describes the access") {
    // A guest write to a read-only page, at the final address of a linear access.
    const vmx::EptViolation w = vmx::decode_ept_violation(0x18a);
    CHECK(w.write);
    CHECK_FALSE(w.read);
    CHECK(w.readable);
    CHECK_FALSE(w.writable);
    CHECK(w.linear_address_valid);
    CHECK(w.caused_by_translation);
    // A fetch during the guest's own page walk: bit 8 clear.
    const vmx::EptViolation f = vmx::decode_ept_violation(0x1084);
    CHECK(f.fetch);
    CHECK(f.linear_address_valid);
    CHECK_FALSE(f.caused_by_translation);
    CHECK(f.nmi_unblocking_due_to_iret);
    // Bit 8 means nothing when bit 7 is clear.
    CHECK_FALSE(vmx::decode_ept_violation(0x101).caused_by_translation);
    char text[40];
    vmx::describe_ept_access(w, text, sizeof text);
    CHECK(std::string(text) == "write");
    vmx::describe_ept_access(vmx::decode_ept_violation(0x1), text, sizeof text);
    CHECK(std::string(text) == "read");
    vmx::describe_ept_access(f, text, sizeof text);
    CHECK(std::string(text) == "instruction fetch");
    vmx::describe_ept_access(vmx::decode_ept_violation(0x3), text, sizeof text);
    CHECK(std::string(text) == "read and write");
    vmx::describe_ept_access(vmx::decode_ept_violation(0), text, sizeof text);
    CHECK(std::string(text) == "unknown access");
    char tiny[4];
    vmx::describe_ept_access(f, tiny, sizeof tiny);
    CHECK(std::string(tiny) == "ins");
}

TEST_CASE("a 2 MiB-aligned guest is mapped with 2 MiB pages, all of it and nothing else") {
    Pool pool(8);
    vmx::EptBuilder builder(pool.memory.get(), pool.count);
    const vmx::EptLayout layout{64ull << 20, 0x40000000, true, false};
    const vmx::EptResult r = builder.build(layout);
    REQUIRE(r.ok);
    CHECK(r.reason == nullptr);
    CHECK(r.tables_used == 3);
    CHECK(r.tables_used == vmx::ept_tables_needed(layout));
    CHECK(r.eptp == vmx::ept_pointer(builder.pml4_physical(), EptMemoryType::write_back, false));
    CHECK(vmx::ept_walk(pml4_of(builder), 0x1234567).page_shift == 21);
    check_guest_mapping(builder, layout.guest_size, layout.host_base);
    CHECK_FALSE(present(builder, layout.guest_size));
    CHECK_FALSE(present(builder, 1ull << 30));
    CHECK_FALSE(present(builder, ~0ull - 4095)); // "just below 0"
    CHECK_FALSE(present(builder, 1ull << 48));
    CHECK_FALSE(present(builder, reinterpret_cast<std::uintptr_t>(pool.memory.get())));
    CHECK_FALSE(present(builder, layout.host_base)); // host addresses are not identity-mapped
    CHECK(present(builder, layout.guest_size - 1));
}

TEST_CASE("a host base that is not 2 MiB aligned gets 4 KiB pages") {
    Pool pool(8);
    vmx::EptBuilder builder(pool.memory.get(), pool.count);
    const vmx::EptLayout layout{(6ull << 20) + 0x3000, 0x40001000, true, false};
    const vmx::EptResult r = builder.build(layout);
    REQUIRE(r.ok);
    CHECK(r.tables_used == 1 + 1 + 1 + 4);
    CHECK(r.tables_used == vmx::ept_tables_needed(layout));
    CHECK(vmx::ept_walk(pml4_of(builder), 0).page_shift == 12);
    check_guest_mapping(builder, layout.guest_size, layout.host_base);
    CHECK_FALSE(present(builder, layout.guest_size));
    CHECK_FALSE(present(builder, layout.guest_size + 0x1000));
}

TEST_CASE("2 MiB pages where possible and a page table for the tail") {
    Pool pool(8);
    vmx::EptBuilder builder(pool.memory.get(), pool.count);
    const vmx::EptLayout layout{(5ull << 20) + 0x2000, 0x80000000, true, true};
    const vmx::EptResult r = builder.build(layout);
    REQUIRE(r.ok);
    CHECK(r.tables_used == 4);
    CHECK(r.tables_used == vmx::ept_tables_needed(layout));
    CHECK((r.eptp & 0x40) != 0); // A/D asked for
    CHECK(vmx::ept_walk(pml4_of(builder), 0x200000).page_shift == 21);
    CHECK(vmx::ept_walk(pml4_of(builder), 0x400000).page_shift == 12);
    check_guest_mapping(builder, layout.guest_size, layout.host_base);
    CHECK_FALSE(present(builder, layout.guest_size));
    // Without 2 MiB pages the same guest needs three page tables.
    const vmx::EptLayout small_pages{layout.guest_size, layout.host_base, false, false};
    CHECK(vmx::ept_tables_needed(small_pages) == 6);
}

TEST_CASE("a guest larger than 1 GiB spans two page directories") {
    Pool pool(8);
    vmx::EptBuilder builder(pool.memory.get(), pool.count);
    const vmx::EptLayout layout{(1ull << 30) + (4ull << 20), 0x100000000ull, true, false};
    const vmx::EptResult r = builder.build(layout);
    REQUIRE(r.ok);
    CHECK(r.tables_used == 4);
    CHECK(r.tables_used == vmx::ept_tables_needed(layout));
    check_guest_mapping(builder, layout.guest_size, layout.host_base);
    CHECK_FALSE(present(builder, layout.guest_size));
}

TEST_CASE("two guests from separate pools map disjoint host memory") {
    Pool pool_a(8), pool_b(12);
    vmx::EptBuilder a(pool_a.memory.get(), pool_a.count);
    vmx::EptBuilder b(pool_b.memory.get(), pool_b.count);
    const std::uint64_t size = 16ull << 20;
    REQUIRE(a.build({size, 0x10000000, true, false}).ok);
    REQUIRE(b.build({size, 0x10000000 + size, false, false}).ok);
    CHECK(pool_a.contains(a.pml4_physical()));
    CHECK(pool_b.contains(b.pml4_physical()));
    std::set<std::uint64_t> pages_a;
    for (std::uint64_t gpa = 0; gpa < size; gpa += 4096) {
        bool pa = false, pb = false;
        pages_a.insert(vmx::ept_translate(pml4_of(a), gpa, &pa));
        const std::uint64_t hb = vmx::ept_translate(pml4_of(b), gpa, &pb);
        CHECK((pa && pb));
        CHECK(pages_a.count(hb) == 0);
    }
    for (std::uint64_t gpa = 0; gpa < size; gpa += 4096) {
        bool pb = false;
        CHECK(pages_a.count(vmx::ept_translate(pml4_of(b), gpa, &pb)) == 0);
    }
    // B's tables live in B's pool only: every non-leaf entry of B points into it.
    const std::uint64_t* pml4 = pml4_of(b);
    CHECK(pool_b.contains(pml4[0] & bits::address_mask));
    const auto* pdpt = reinterpret_cast<const std::uint64_t*>(pml4[0] & bits::address_mask);
    CHECK(pool_b.contains(pdpt[0] & bits::address_mask));
}

TEST_CASE("the builder refuses what it cannot do, with a reason") {
    Pool pool(3);
    vmx::EptBuilder small(pool.memory.get(), pool.count);
    // 4 KiB pages for 4 MiB need 1 + 1 + 1 + 2 tables: one too many.
    vmx::EptResult r = small.build({4ull << 20, 0x1000, true, false});
    CHECK_FALSE(r.ok);
    CHECK(std::string(r.reason) == "EPT table pool exhausted");
    CHECK(r.tables_used == 3);

    Pool other(4);
    const auto fails = [&other](const vmx::EptLayout& layout) {
        std::memset(other.memory.get(), 0, other.count * 4096);
        vmx::EptBuilder b(other.memory.get(), other.count);
        const vmx::EptResult res = b.build(layout);
        CHECK_FALSE(res.ok);
        return std::string(res.reason != nullptr ? res.reason : "");
    };
    CHECK(fails({0, 0, true, false}) == "empty range");
    CHECK(fails({0x1800, 0, true, false}) == "range is not 4 KiB aligned");
    CHECK(fails({0x2000, 0x800, true, false}) == "range is not 4 KiB aligned");
    CHECK(fails({1ull << 49, 0, true, false}) == "guest range beyond 4-level EPT (256 TiB)");
    CHECK(fails({1ull << 30, (1ull << 52) - 0x1000, true, false}) ==
          "host range beyond 52-bit physical addresses");

    other.memory.get()[0] = 1;
    vmx::EptBuilder dirty(other.memory.get(), other.count);
    r = dirty.build({0x1000, 0, true, false});
    CHECK_FALSE(r.ok);
    CHECK(std::string(r.reason) == "EPT table pool page is not zeroed");

    std::memset(other.memory.get(), 0, other.count * 4096);
    vmx::EptBuilder skewed(reinterpret_cast<char*>(other.memory.get()) + 8, 2);
    r = skewed.build({0x1000, 0, true, false});
    CHECK_FALSE(r.ok);
    CHECK(std::string(r.reason) == "EPT table pool is not 4 KiB aligned");
}

TEST_CASE("further ranges may be added but never overlap, across a 512 GiB boundary") {
    Pool pool(12);
    vmx::EptBuilder builder(pool.memory.get(), pool.count);
    const char* reason = nullptr;
    const std::uint64_t boundary = 1ull << 39;
    REQUIRE(builder.map(boundary - 0x400000, 0x20000000, 0x800000, true, &reason));
    CHECK(builder.tables_used() == 1 + 2 + 2);
    CHECK(vmx::ept_translate(pml4_of(builder), boundary - 1, nullptr) == 0x20000000 + 0x3fffff);
    CHECK(vmx::ept_translate(pml4_of(builder), boundary, nullptr) == 0x20400000);
    CHECK(vmx::ept_walk(pml4_of(builder), boundary).page_shift == 21);
    CHECK_FALSE(present(builder, boundary - 0x401000));
    CHECK_FALSE(present(builder, boundary + 0x400000));
    // One device page beside it, then overlaps with both kinds of leaf.
    REQUIRE(builder.map(boundary + 0x400000, 0xfee00000, 0x1000, true, &reason));
    CHECK(vmx::ept_translate(pml4_of(builder), boundary + 0x400fff, nullptr) == 0xfee00fff);
    CHECK_FALSE(builder.map(boundary, 0x1000000, 0x1000, true, &reason));
    CHECK(std::string(reason) == "guest-physical range already mapped");
    reason = nullptr;
    CHECK_FALSE(builder.map(boundary + 0x400000, 0x1000000, 0x1000, true, &reason));
    CHECK(std::string(reason) == "guest-physical range already mapped");
}

namespace {
constexpr std::uint64_t fake_offset = 1ull << 47;
std::uint64_t offset_physical(const void* p) { return reinterpret_cast<std::uintptr_t>(p) + fake_offset; }
const std::uint64_t* offset_table(std::uint64_t phys) {
    return reinterpret_cast<const std::uint64_t*>(phys - fake_offset);
}
} // namespace

TEST_CASE("physical addresses of tables come from the translation hooks") {
    Pool pool(8);
    vmx::EptBuilder builder(pool.memory.get(), pool.count, offset_physical);
    const vmx::EptResult r = builder.build({8ull << 20, 0x3000, true, false});
    REQUIRE(r.ok);
    CHECK(builder.pml4_physical() == offset_physical(pool.memory.get()));
    CHECK((r.eptp & bits::address_mask) == builder.pml4_physical());
    const std::uint64_t* pml4 = pool.memory.get();
    CHECK((pml4[0] & bits::address_mask) >= fake_offset);
    bool p = false;
    CHECK(vmx::ept_translate(pml4, 0x5123, &p, offset_table) == 0x8123);
    CHECK(p);
    CHECK(vmx::ept_translate(pml4, 8ull << 20, &p, offset_table) == 0);
    CHECK_FALSE(p);
}

TEST_CASE("the software walk honours 1 GiB leaves and non-present entries") {
    alignas(4096) static std::uint64_t pml4[512];
    alignas(4096) static std::uint64_t pdpt[512];
    pml4[0] = vmx::ept_table_entry(reinterpret_cast<std::uintptr_t>(pdpt));
    pdpt[1] = vmx::ept_leaf_1g(0x200000000ull, bits::read, EptMemoryType::write_back);
    pdpt[2] = bits::ignore_pat | (6u << 3); // no R/W/X: not present, whatever else is set
    const vmx::EptWalk w = vmx::ept_walk(pml4, (1ull << 30) + 0x12345678);
    CHECK(w.present);
    CHECK(w.page_shift == 30);
    CHECK(w.host_physical == 0x200000000ull + 0x12345678);
    CHECK((w.leaf & bits::rwx) == bits::read);
    CHECK_FALSE(vmx::ept_walk(pml4, 2ull << 30).present);
    CHECK_FALSE(vmx::ept_walk(pml4, 0).present);
    CHECK_FALSE(vmx::ept_walk(nullptr, 0).present);
}
