// The names of the VMCS fields, for logs, dumps and the vmcs-fields tool. Generated from the
// same list as the Field enum (vmx/arch/vmcs_fields.hpp), so every enumerator appears exactly once,
// spelled as in the source, in encoding order.
#pragma once
#include <cstddef>
#include <type_traits>

#include "vmx/arch/vmcs_fields.hpp"

namespace vmx {

struct FieldInfo {
    Field field;
    const char* name;
};

#define METRONOME_VMCS_FIELD_INFO(name, width, type, index) FieldInfo{Field::name, #name},
#define METRONOME_VMCS_FIELD64_INFOS(name, type, index)                                            \
    FieldInfo{Field::name, #name}, FieldInfo{Field::name##_high, #name "_high"},

inline constexpr FieldInfo kFieldCatalogue[] = {
    METRONOME_VMCS_FIELDS(METRONOME_VMCS_FIELD_INFO, METRONOME_VMCS_FIELD64_INFOS)};

#undef METRONOME_VMCS_FIELD_INFO
#undef METRONOME_VMCS_FIELD64_INFOS

inline constexpr std::size_t kFieldCount = std::extent_v<decltype(kFieldCatalogue)>;

namespace detail {

// strcmp without libc: vmx/ is freestanding.
constexpr bool names_equal(const char* a, const char* b) {
    if (a == nullptr || b == nullptr) return a == b;
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

// Strictly increasing encodings: no field is listed twice and find_field may stop early.
constexpr bool catalogue_sorted_and_unique() {
    for (std::size_t i = 1; i < kFieldCount; ++i) {
        if (field_encoding(kFieldCatalogue[i - 1].field) >=
            field_encoding(kFieldCatalogue[i].field)) {
            return false;
        }
    }
    return true;
}

constexpr bool catalogue_encodings_valid() {
    for (const FieldInfo& info : kFieldCatalogue) {
        if (!is_valid_encoding(field_encoding(info.field))) return false;
    }
    return true;
}

constexpr bool catalogue_names_unique() {
    for (std::size_t i = 0; i < kFieldCount; ++i) {
        if (kFieldCatalogue[i].name[0] == '\0') return false;
        for (std::size_t j = i + 1; j < kFieldCount; ++j) {
            if (names_equal(kFieldCatalogue[i].name, kFieldCatalogue[j].name)) return false;
        }
    }
    return true;
}

} // namespace detail

static_assert(detail::catalogue_sorted_and_unique(),
              "VMCS field catalogue: encodings must be unique and in increasing order");
static_assert(detail::catalogue_encodings_valid(),
              "VMCS field catalogue: an entry has reserved bits set or a bad high access");
static_assert(detail::catalogue_names_unique(), "VMCS field catalogue: duplicate or empty name");

// The catalogue entry of `f`, or nullptr when the encoding is not in the catalogue (a field
// Metronome does not list, or not a field at all).
constexpr const FieldInfo* find_field(Field f) {
    for (const FieldInfo& info : kFieldCatalogue) {
        if (info.field == f) return &info;
        if (field_encoding(info.field) > field_encoding(f)) break;
    }
    return nullptr;
}

constexpr const char* field_name(Field f) {
    const FieldInfo* info = find_field(f);
    return info != nullptr ? info->name : "unknown";
}

// Exact, case-sensitive match on the enumerator's spelling; nullptr when there is none.
constexpr const FieldInfo* find_field_by_name(const char* name) {
    if (name == nullptr) return nullptr;
    for (const FieldInfo& info : kFieldCatalogue) {
        if (detail::names_equal(info.name, name)) return &info;
    }
    return nullptr;
}

} // namespace vmx
