#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/arch/vmcs_fields.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using vmx::Field;
using vmx::FieldAccess;
using vmx::FieldType;
using vmx::FieldWidth;

namespace {

// A sample of SDM literals, typed in from the appendix "Field Encoding in VMCS". The full
// table is checked at compile time in vmx/arch/vmcs_fields.cpp; this repeats part of it at run time
// so a broken constexpr evaluation cannot hide behind itself.
struct Literal {
    Field field;
    std::uint32_t sdm;
};
constexpr Literal kSample[] = {
    {Field::virtual_processor_id, 0x0000},
    {Field::guest_es_selector, 0x0800},
    {Field::pml_index, 0x0812},
    {Field::host_tr_selector, 0x0c0c},
    {Field::io_bitmap_a_address, 0x2000},
    {Field::msr_bitmap_address, 0x2004},
    {Field::tsc_offset, 0x2010},
    {Field::tsc_offset_high, 0x2011},
    {Field::ept_pointer, 0x201a},
    {Field::ept_pointer_high, 0x201b},
    {Field::eptp_list_address, 0x2024},
    {Field::guest_physical_address, 0x2400},
    {Field::vmcs_link_pointer, 0x2800},
    {Field::guest_ia32_efer_high, 0x2807},
    {Field::guest_pdpte3, 0x2810},
    {Field::host_ia32_perf_global_ctrl, 0x2c04},
    {Field::pin_based_controls, 0x4000},
    {Field::exit_controls, 0x400c},
    {Field::entry_controls, 0x4012},
    {Field::secondary_processor_based_controls, 0x401e},
    {Field::ple_window, 0x4022},
    {Field::vm_instruction_error, 0x4400},
    {Field::exit_reason, 0x4402},
    {Field::exit_instruction_info, 0x440e},
    {Field::guest_tr_access_rights, 0x4822},
    {Field::guest_activity_state, 0x4826},
    {Field::vmx_preemption_timer_value, 0x482e},
    {Field::host_ia32_sysenter_cs, 0x4c00},
    {Field::cr3_target_value3, 0x600e},
    {Field::exit_qualification, 0x6400},
    {Field::guest_linear_address, 0x640a},
    {Field::guest_rip, 0x681e},
    {Field::guest_rflags, 0x6820},
    {Field::host_rip, 0x6c16},
};

static_assert(Field::guest_rip == Field{0x681e});
static_assert(Field::ept_pointer == Field{0x201a});
static_assert(Field::tsc_offset_high == Field{0x2011});
static_assert(Field::vmx_preemption_timer_value == Field{0x482e});
static_assert(Field::exit_reason == Field{0x4402});
static_assert(Field::host_rip == Field{0x6c16});
static_assert(vmx::encode_field(FieldWidth::natural, FieldType::guest, 15) == 0x681e);
static_assert(vmx::field_bits(Field::ept_pointer_high) == 32);
static_assert(vmx::is_read_only(Field::exit_qualification));
static_assert(vmx::find_field_by_name("guest_rip")->field == Field::guest_rip);

bool starts_with(const char* s, const char* prefix) {
    return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

bool ends_with(const char* s, const char* suffix) {
    const std::size_t n = std::strlen(s);
    const std::size_t m = std::strlen(suffix);
    return n >= m && std::strcmp(s + n - m, suffix) == 0;
}

} // namespace

TEST_CASE("vmcs fields: encode_field puts each part in its SDM bit position") {
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::control, 0) == 0x0000);
    CHECK(vmx::encode_field(FieldWidth::bits64, FieldType::control, 0, FieldAccess::high) -
              vmx::encode_field(FieldWidth::bits64, FieldType::control, 0) ==
          0x0001);                                                                     // bit 0
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::control, 0x1ff) == 0x03fe); // 9:1
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::exit_info, 0) == 0x0400);   // 11:10
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::guest, 0) == 0x0800);
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::host, 0) == 0x0c00);
    CHECK(vmx::encode_field(FieldWidth::bits64, FieldType::control, 0) == 0x2000); // 14:13
    CHECK(vmx::encode_field(FieldWidth::bits32, FieldType::control, 0) == 0x4000);
    CHECK(vmx::encode_field(FieldWidth::natural, FieldType::control, 0) == 0x6000);
    CHECK(vmx::encode_field(FieldWidth::natural, FieldType::guest, 15) == 0x681e);
    CHECK(vmx::encode_field(FieldWidth::bits64, FieldType::control, 8, FieldAccess::high) ==
          0x2011);
}

TEST_CASE("vmcs fields: encode_field refuses what has no encoding") {
    const std::uint32_t bad = vmx::kInvalidFieldEncoding;
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::control, 512) == bad);
    CHECK(vmx::encode_field(FieldWidth::bits32, FieldType::guest, 0, FieldAccess::high) == bad);
    CHECK(vmx::encode_field(FieldWidth::bits16, FieldType::host, 3, FieldAccess::high) == bad);
    CHECK(vmx::encode_field(FieldWidth::natural, FieldType::guest, 15, FieldAccess::high) == bad);
    CHECK(vmx::encode_field(static_cast<FieldWidth>(4), FieldType::control, 0) == bad);
    CHECK(vmx::encode_field(FieldWidth::bits16, static_cast<FieldType>(4), 0) == bad);
    CHECK(vmx::encode_field(FieldWidth::bits64, FieldType::control, 0,
                            static_cast<FieldAccess>(2)) == bad);
    CHECK_FALSE(vmx::is_valid_encoding(bad));
}

TEST_CASE("vmcs fields: decode_field inverts encode_field over the whole encoding space") {
    unsigned encodable = 0;
    for (unsigned w = 0; w < 4; ++w) {
        for (unsigned t = 0; t < 4; ++t) {
            for (std::uint32_t index = 0; index <= vmx::kMaxFieldIndex; ++index) {
                for (unsigned a = 0; a < 2; ++a) {
                    const auto width = static_cast<FieldWidth>(w);
                    const auto type = static_cast<FieldType>(t);
                    const auto access = static_cast<FieldAccess>(a);
                    const std::uint32_t e = vmx::encode_field(width, type, index, access);
                    if (e == vmx::kInvalidFieldEncoding) continue;
                    ++encodable;
                    const vmx::DecodedField d = vmx::decode_field(e);
                    REQUIRE(vmx::is_valid_encoding(e));
                    REQUIRE(d.width == width);
                    REQUIRE(d.type == type);
                    REQUIRE(d.index == index);
                    REQUIRE(d.access == access);
                }
            }
        }
    }
    // 4 types x 512 indices x (3 widths with one access + 64-bit with two).
    CHECK(encodable == 4 * 512 * 5);
}

TEST_CASE("vmcs fields: is_valid_encoding rejects reserved bits and bad high accesses") {
    CHECK(vmx::is_valid_encoding(0x0000));
    CHECK(vmx::is_valid_encoding(0x2001)); // io_bitmap_a_address_high
    CHECK(vmx::is_valid_encoding(0x6c16));
    CHECK_FALSE(vmx::is_valid_encoding(0x1000)); // bit 12 is reserved
    CHECK_FALSE(vmx::is_valid_encoding(0x681e | 0x1000));
    CHECK_FALSE(vmx::is_valid_encoding(0x8000)); // bits 31:15 are reserved
    CHECK_FALSE(vmx::is_valid_encoding(0x10000 | 0x4402));
    CHECK_FALSE(vmx::is_valid_encoding(0x80000000u));
    CHECK_FALSE(vmx::is_valid_encoding(0x0001)); // high access on a 16-bit field
    CHECK_FALSE(vmx::is_valid_encoding(0x4403)); // ... on a 32-bit field
    CHECK_FALSE(vmx::is_valid_encoding(0x681f)); // ... on a natural-width field
    // Same count as the encoder's: the two agree on what is an encoding.
    unsigned valid = 0;
    for (std::uint32_t e = 0; e < 0x20000; ++e)
        valid += vmx::is_valid_encoding(e) ? 1u : 0u;
    CHECK(valid == 4 * 512 * 5);
}

TEST_CASE("vmcs fields: Field enumerators carry the SDM literal encodings") {
    for (const Literal& l : kSample) {
        INFO(vmx::field_name(l.field));
        CHECK(vmx::field_encoding(l.field) == l.sdm);
        CHECK(vmx::find_field(Field{l.sdm}) != nullptr);
    }
}

TEST_CASE("vmcs fields: every catalogue entry is valid and survives decode then encode") {
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        INFO(info.name);
        const std::uint32_t e = vmx::field_encoding(info.field);
        REQUIRE(vmx::is_valid_encoding(e));
        const vmx::DecodedField d = vmx::decode_field(e);
        CHECK(vmx::encode_field(d.width, d.type, d.index, d.access) == e);
        CHECK(vmx::field_width(info.field) == d.width);
        CHECK(vmx::field_type(info.field) == d.type);
        CHECK(vmx::field_access(info.field) == d.access);
    }
}

TEST_CASE("vmcs fields: width and type agree with the names and the SDM groups") {
    CHECK(vmx::field_width(Field::virtual_processor_id) == FieldWidth::bits16);
    CHECK(vmx::field_width(Field::ept_pointer) == FieldWidth::bits64);
    CHECK(vmx::field_width(Field::exit_reason) == FieldWidth::bits32);
    CHECK(vmx::field_width(Field::guest_rip) == FieldWidth::natural);
    CHECK(vmx::field_type(Field::pin_based_controls) == FieldType::control);
    CHECK(vmx::field_type(Field::guest_physical_address) == FieldType::exit_info);
    CHECK(vmx::field_type(Field::vmcs_link_pointer) == FieldType::guest);
    CHECK(vmx::field_type(Field::vmx_preemption_timer_value) == FieldType::guest);
    CHECK(vmx::field_type(Field::host_tr_selector) == FieldType::host);
    // Names and encodings come from one list, but the prefix convention is a second opinion:
    // host_* is exactly the host-state type, and guest_* is guest state except the two
    // exit-information addresses.
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        INFO(info.name);
        const FieldType type = vmx::field_type(info.field);
        CHECK(starts_with(info.name, "host_") == (type == FieldType::host));
        if (starts_with(info.name, "guest_") && type != FieldType::guest) {
            CHECK((info.field == Field::guest_physical_address ||
                   info.field == Field::guest_physical_address_high ||
                   info.field == Field::guest_linear_address));
        }
    }
}

TEST_CASE("vmcs fields: is_read_only is exactly the VM-exit information type") {
    CHECK(vmx::is_read_only(Field::exit_reason));
    CHECK(vmx::is_read_only(Field::vm_instruction_error));
    CHECK(vmx::is_read_only(Field::exit_qualification));
    CHECK(vmx::is_read_only(Field::io_rip));
    CHECK(vmx::is_read_only(Field::guest_physical_address_high));
    CHECK_FALSE(vmx::is_read_only(Field::guest_rip));
    CHECK_FALSE(vmx::is_read_only(Field::entry_interruption_info));
    CHECK_FALSE(vmx::is_read_only(Field::host_rip));
    unsigned read_only = 0;
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        read_only += vmx::is_read_only(info.field) ? 1u : 0u;
    }
    // 64-bit guest-physical address (full + high), eight 32-bit and six natural-width fields.
    CHECK(read_only == 2 + 8 + 6);
}

TEST_CASE("vmcs fields: field_bits: 16, 32, 64, natural is 64, and a high half is 32") {
    CHECK(vmx::field_bits(Field::guest_cs_selector) == 16);
    CHECK(vmx::field_bits(Field::guest_cs_limit) == 32);
    CHECK(vmx::field_bits(Field::vmcs_link_pointer) == 64);
    CHECK(vmx::field_bits(Field::vmcs_link_pointer_high) == 32);
    CHECK(vmx::field_bits(Field::guest_cs_base) == 64);
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        INFO(info.name);
        const unsigned bits = vmx::field_bits(info.field);
        CHECK((bits == 16 || bits == 32 || bits == 64));
        if (vmx::field_access(info.field) == FieldAccess::high) CHECK(bits == 32);
    }
}

TEST_CASE("vmcs fields: every 64-bit field has a _high partner and nothing else does") {
    unsigned full64 = 0;
    unsigned high = 0;
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        INFO(info.name);
        const bool is_high = vmx::field_access(info.field) == FieldAccess::high;
        CHECK(ends_with(info.name, "_high") == is_high);
        if (is_high) {
            ++high;
            CHECK(vmx::field_width(info.field) == FieldWidth::bits64);
            // Its full half sits one encoding below and carries the name without "_high".
            const vmx::FieldInfo* full =
                vmx::find_field(Field{vmx::field_encoding(info.field) - 1});
            REQUIRE(full != nullptr);
            CHECK(std::string(full->name) + "_high" == info.name);
        } else if (vmx::field_width(info.field) == FieldWidth::bits64) {
            ++full64;
            CHECK(vmx::find_field(Field{vmx::field_encoding(info.field) + 1}) != nullptr);
        }
    }
    CHECK(full64 > 0);
    CHECK(high == full64);
}

TEST_CASE("vmcs fields: catalogue: big enough, sorted, unique, lower_snake_case names") {
    CHECK(vmx::kFieldCount >= 150);
    for (std::size_t i = 0; i < vmx::kFieldCount; ++i) {
        const vmx::FieldInfo& info = vmx::kFieldCatalogue[i];
        INFO(info.name);
        REQUIRE(info.name != nullptr);
        const std::size_t len = std::strlen(info.name);
        REQUIRE(len > 0);
        CHECK(info.name[0] != '_');
        CHECK(info.name[len - 1] != '_');
        for (const char* c = info.name; *c != '\0'; ++c) {
            CHECK(((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'));
        }
        if (i > 0) {
            const vmx::FieldInfo& prev = vmx::kFieldCatalogue[i - 1];
            CHECK(vmx::field_encoding(prev.field) < vmx::field_encoding(info.field));
        }
        for (std::size_t j = i + 1; j < vmx::kFieldCount; ++j) {
            CHECK(std::strcmp(info.name, vmx::kFieldCatalogue[j].name) != 0);
        }
    }
}

TEST_CASE("vmcs fields: find_field and field_name") {
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        CHECK(vmx::find_field(info.field) == &info);
        CHECK(vmx::field_name(info.field) == info.name);
    }
    CHECK(std::strcmp(vmx::field_name(Field::exit_reason), "exit_reason") == 0);
    CHECK(std::strcmp(vmx::field_name(Field::tsc_offset_high), "tsc_offset_high") == 0);
    // Well formed but not catalogued (sub-page-permission-table pointer), and not an encoding.
    CHECK(vmx::find_field(Field{0x2030}) == nullptr);
    CHECK(std::strcmp(vmx::field_name(Field{0x2030}), "unknown") == 0);
    CHECK(vmx::find_field(Field{0x1000}) == nullptr);
    CHECK(vmx::find_field(Field{0xffffffffu}) == nullptr);
    CHECK(std::strcmp(vmx::field_name(Field{0x4001}), "unknown") == 0);
}

TEST_CASE("vmcs fields: find_field_by_name matches the exact spelling only") {
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        CHECK(vmx::find_field_by_name(info.name) == &info);
    }
    const vmx::FieldInfo* rip = vmx::find_field_by_name("guest_rip");
    REQUIRE(rip != nullptr);
    CHECK(rip->field == Field::guest_rip);
    const vmx::FieldInfo* high = vmx::find_field_by_name("ept_pointer_high");
    REQUIRE(high != nullptr);
    CHECK(high->field == Field::ept_pointer_high);
    CHECK(vmx::find_field_by_name(nullptr) == nullptr);
    CHECK(vmx::find_field_by_name("") == nullptr);
    CHECK(vmx::find_field_by_name("guest_ri") == nullptr);
    CHECK(vmx::find_field_by_name("guest_ripx") == nullptr);
    CHECK(vmx::find_field_by_name("GUEST_RIP") == nullptr);
}

TEST_CASE("vmcs fields: width, type and access names") {
    CHECK(std::strcmp(vmx::width_name(FieldWidth::bits16), "16-bit") == 0);
    CHECK(std::strcmp(vmx::width_name(FieldWidth::bits64), "64-bit") == 0);
    CHECK(std::strcmp(vmx::width_name(FieldWidth::bits32), "32-bit") == 0);
    CHECK(std::strcmp(vmx::width_name(FieldWidth::natural), "natural") == 0);
    CHECK(std::strcmp(vmx::type_name(FieldType::control), "control") == 0);
    CHECK(std::strcmp(vmx::type_name(FieldType::exit_info), "exit-info") == 0);
    CHECK(std::strcmp(vmx::type_name(FieldType::guest), "guest") == 0);
    CHECK(std::strcmp(vmx::type_name(FieldType::host), "host") == 0);
    CHECK(std::strcmp(vmx::access_name(FieldAccess::full), "full") == 0);
    CHECK(std::strcmp(vmx::access_name(FieldAccess::high), "high") == 0);
}

TEST_CASE("vmcs fields: vmcs-fields prints the catalogue as CSV") {
    const std::string command = std::string(METRONOME_TOOLS_DIR) + "/vmcs-fields";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::vector<std::string> lines;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
        std::string line(buf);
        if (!line.empty() && line.back() == '\n') line.pop_back();
        lines.push_back(line);
    }
    CHECK(pclose(pipe) == 0);
    REQUIRE(!lines.empty());
    CHECK(lines[0] == "name,encoding,width,type,access");
    REQUIRE(lines.size() == vmx::kFieldCount + 1);
    auto has = [&lines](const char* row) {
        for (const std::string& l : lines) {
            if (l == row) return true;
        }
        return false;
    };
    CHECK(has("guest_rip,0x681e,natural,guest,full"));
    CHECK(has("ept_pointer,0x201a,64-bit,control,full"));
    CHECK(has("tsc_offset_high,0x2011,64-bit,control,high"));
    CHECK(has("exit_reason,0x4402,32-bit,exit-info,full"));
    CHECK(has("virtual_processor_id,0x0000,16-bit,control,full"));
    CHECK(has("host_tr_selector,0x0c0c,16-bit,host,full"));
    // Row i is catalogue entry i, beginning with its name and encoding.
    for (std::size_t i = 0; i < vmx::kFieldCount; ++i) {
        char prefix[96];
        std::snprintf(prefix, sizeof prefix, "%s,0x%04x,", vmx::kFieldCatalogue[i].name,
                      vmx::field_encoding(vmx::kFieldCatalogue[i].field));
        CHECK(starts_with(lines[i + 1].c_str(), prefix));
    }
}
