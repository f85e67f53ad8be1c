// VMCS field encodings: the 32-bit values VMREAD and VMWRITE take to name a VMCS component.
// Source: Intel SDM Vol. 3, chapter "Virtual Machine Control Structures", section "Field
// Encoding in VMCS", and the appendix "Field Encoding in VMCS", whose tables the field list
// below follows group by group. Everything here is constexpr and freestanding, so the same
// header serves metronome.efi, the host tools and the unit tests.
//
// The SDM literal of every field is checked in vmx/arch/vmcs_fields.cpp; the names table lives in
// vmx/arch/vmcs_field_catalogue.hpp.
#pragma once
#include <cstdint>

namespace vmx {

// Bits 14:13 of an encoding. The numbering is the SDM's: 64-bit comes before 32-bit.
enum class FieldWidth : std::uint8_t { bits16 = 0, bits64 = 1, bits32 = 2, natural = 3 };

// Bits 11:10. Type 1 is what the SDM calls "VM-exit information" (read-only data).
enum class FieldType : std::uint8_t { control = 0, exit_info = 1, guest = 2, host = 3 };

// Bit 0. A 64-bit field can be read or written whole ("full") or, as 32-bit software must,
// through its upper 32 bits alone ("high"). The other widths have only the full form.
enum class FieldAccess : std::uint8_t { full = 0, high = 1 };

// Bits 9:1 hold the index, so a (width, type) group has at most 512 fields.
inline constexpr std::uint32_t kMaxFieldIndex = 0x1ff;

// The bits an encoding may use; bit 12 and bits 31:15 are reserved and must be zero.
inline constexpr std::uint32_t kFieldEncodingMask = 0x6fff;

// What encode_field returns for arguments it cannot encode. Every reserved bit is set, so
// is_valid_encoding() rejects it and a mistyped Field enumerator fails the static_asserts of
// the catalogue instead of silently aliasing another field.
inline constexpr std::uint32_t kInvalidFieldEncoding = 0xffffffffu;

constexpr std::uint32_t encode_field(FieldWidth width, FieldType type, std::uint32_t index,
                                     FieldAccess access = FieldAccess::full) {
    const auto w = static_cast<std::uint32_t>(width);
    const auto t = static_cast<std::uint32_t>(type);
    const auto a = static_cast<std::uint32_t>(access);
    if (w > 3 || t > 3 || a > 1 || index > kMaxFieldIndex) return kInvalidFieldEncoding;
    // "Access type ... must be full for 16-bit, 32-bit, and natural-width fields".
    if (access == FieldAccess::high && width != FieldWidth::bits64) return kInvalidFieldEncoding;
    return a | (index << 1) | (t << 10) | (w << 13);
}

struct DecodedField {
    FieldWidth width;
    FieldType type;
    std::uint32_t index;
    FieldAccess access;
};

// Splits an encoding into its parts. Reserved bits are ignored: check is_valid_encoding()
// first when the value comes from outside.
constexpr DecodedField decode_field(std::uint32_t encoding) {
    return DecodedField{
        static_cast<FieldWidth>((encoding >> 13) & 3u),
        static_cast<FieldType>((encoding >> 10) & 3u),
        (encoding >> 1) & kMaxFieldIndex,
        static_cast<FieldAccess>(encoding & 1u),
    };
}

// True when `encoding` is well formed: reserved bits clear and a high access only on a 64-bit
// field. Whether a particular CPU implements the field is a separate question
// (IA32_VMX_VMCS_ENUM gives the highest index it supports).
constexpr bool is_valid_encoding(std::uint32_t encoding) {
    if ((encoding & ~kFieldEncodingMask) != 0) return false;
    const DecodedField d = decode_field(encoding);
    return d.access == FieldAccess::full || d.width == FieldWidth::bits64;
}

// The field list, one row per field in encoding order, grouped like the tables of the SDM
// appendix "Field Encoding in VMCS". F(name, width, type, index) is one field; F64(name, type,
// index) is a 64-bit field, which also gets a `name_high` enumerator for its high access.
// A single list feeds both the Field enum and the catalogue of names, so the two cannot drift.
//
// Coverage: the basic VMX architecture plus the extensions up to CET and TSC scaling. Newer
// fields (sub-page permissions, ENCLV, PASID translation, tertiary controls, PKRS, HLAT, IPI
// virtualization, FRED, notify window) are left out until Metronome uses them; the catalogue
// reports their encodings as unknown.
#define METRONOME_VMCS_FIELDS(F, F64)                                                              \
    /* 16-bit control fields */                                                                    \
    F(virtual_processor_id, bits16, control, 0)                                                    \
    F(posted_interrupt_notification_vector, bits16, control, 1)                                    \
    F(eptp_index, bits16, control, 2)                                                              \
    /* 16-bit guest-state fields */                                                                \
    F(guest_es_selector, bits16, guest, 0)                                                         \
    F(guest_cs_selector, bits16, guest, 1)                                                         \
    F(guest_ss_selector, bits16, guest, 2)                                                         \
    F(guest_ds_selector, bits16, guest, 3)                                                         \
    F(guest_fs_selector, bits16, guest, 4)                                                         \
    F(guest_gs_selector, bits16, guest, 5)                                                         \
    F(guest_ldtr_selector, bits16, guest, 6)                                                       \
    F(guest_tr_selector, bits16, guest, 7)                                                         \
    F(guest_interrupt_status, bits16, guest, 8)                                                    \
    F(pml_index, bits16, guest, 9)                                                                 \
    /* 16-bit host-state fields */                                                                 \
    F(host_es_selector, bits16, host, 0)                                                           \
    F(host_cs_selector, bits16, host, 1)                                                           \
    F(host_ss_selector, bits16, host, 2)                                                           \
    F(host_ds_selector, bits16, host, 3)                                                           \
    F(host_fs_selector, bits16, host, 4)                                                           \
    F(host_gs_selector, bits16, host, 5)                                                           \
    F(host_tr_selector, bits16, host, 6)                                                           \
    /* 64-bit control fields */                                                                    \
    F64(io_bitmap_a_address, control, 0)                                                           \
    F64(io_bitmap_b_address, control, 1)                                                           \
    F64(msr_bitmap_address, control, 2)                                                            \
    F64(exit_msr_store_address, control, 3)                                                        \
    F64(exit_msr_load_address, control, 4)                                                         \
    F64(entry_msr_load_address, control, 5)                                                        \
    F64(executive_vmcs_pointer, control, 6)                                                        \
    F64(pml_address, control, 7)                                                                   \
    F64(tsc_offset, control, 8)                                                                    \
    F64(virtual_apic_address, control, 9)                                                          \
    F64(apic_access_address, control, 10)                                                          \
    F64(posted_interrupt_descriptor_address, control, 11)                                          \
    F64(vm_function_controls, control, 12)                                                         \
    F64(ept_pointer, control, 13)                                                                  \
    F64(eoi_exit_bitmap0, control, 14)                                                             \
    F64(eoi_exit_bitmap1, control, 15)                                                             \
    F64(eoi_exit_bitmap2, control, 16)                                                             \
    F64(eoi_exit_bitmap3, control, 17)                                                             \
    F64(eptp_list_address, control, 18)                                                            \
    F64(vmread_bitmap_address, control, 19)                                                        \
    F64(vmwrite_bitmap_address, control, 20)                                                       \
    F64(virtualization_exception_info_address, control, 21)                                        \
    F64(xss_exiting_bitmap, control, 22)                                                           \
    F64(encls_exiting_bitmap, control, 23)                                                         \
    F64(tsc_multiplier, control, 25)                                                               \
    /* 64-bit read-only data field */                                                              \
    F64(guest_physical_address, exit_info, 0)                                                      \
    /* 64-bit guest-state fields */                                                                \
    F64(vmcs_link_pointer, guest, 0)                                                               \
    F64(guest_ia32_debugctl, guest, 1)                                                             \
    F64(guest_ia32_pat, guest, 2)                                                                  \
    F64(guest_ia32_efer, guest, 3)                                                                 \
    F64(guest_ia32_perf_global_ctrl, guest, 4)                                                     \
    F64(guest_pdpte0, guest, 5)                                                                    \
    F64(guest_pdpte1, guest, 6)                                                                    \
    F64(guest_pdpte2, guest, 7)                                                                    \
    F64(guest_pdpte3, guest, 8)                                                                    \
    F64(guest_ia32_bndcfgs, guest, 9)                                                              \
    F64(guest_ia32_rtit_ctl, guest, 10)                                                            \
    /* 64-bit host-state fields */                                                                 \
    F64(host_ia32_pat, host, 0)                                                                    \
    F64(host_ia32_efer, host, 1)                                                                   \
    F64(host_ia32_perf_global_ctrl, host, 2)                                                       \
    /* 32-bit control fields */                                                                    \
    F(pin_based_controls, bits32, control, 0)                                                      \
    F(primary_processor_based_controls, bits32, control, 1)                                        \
    F(exception_bitmap, bits32, control, 2)                                                        \
    F(page_fault_error_code_mask, bits32, control, 3)                                              \
    F(page_fault_error_code_match, bits32, control, 4)                                             \
    F(cr3_target_count, bits32, control, 5)                                                        \
    F(exit_controls, bits32, control, 6)                                                           \
    F(exit_msr_store_count, bits32, control, 7)                                                    \
    F(exit_msr_load_count, bits32, control, 8)                                                     \
    F(entry_controls, bits32, control, 9)                                                          \
    F(entry_msr_load_count, bits32, control, 10)                                                   \
    F(entry_interruption_info, bits32, control, 11)                                                \
    F(entry_exception_error_code, bits32, control, 12)                                             \
    F(entry_instruction_length, bits32, control, 13)                                               \
    F(tpr_threshold, bits32, control, 14)                                                          \
    F(secondary_processor_based_controls, bits32, control, 15)                                     \
    F(ple_gap, bits32, control, 16)                                                                \
    F(ple_window, bits32, control, 17)                                                             \
    /* 32-bit read-only data fields */                                                             \
    F(vm_instruction_error, bits32, exit_info, 0)                                                  \
    F(exit_reason, bits32, exit_info, 1)                                                           \
    F(exit_interruption_info, bits32, exit_info, 2)                                                \
    F(exit_interruption_error_code, bits32, exit_info, 3)                                          \
    F(idt_vectoring_info, bits32, exit_info, 4)                                                    \
    F(idt_vectoring_error_code, bits32, exit_info, 5)                                              \
    F(exit_instruction_length, bits32, exit_info, 6)                                               \
    F(exit_instruction_info, bits32, exit_info, 7)                                                 \
    /* 32-bit guest-state fields */                                                                \
    F(guest_es_limit, bits32, guest, 0)                                                            \
    F(guest_cs_limit, bits32, guest, 1)                                                            \
    F(guest_ss_limit, bits32, guest, 2)                                                            \
    F(guest_ds_limit, bits32, guest, 3)                                                            \
    F(guest_fs_limit, bits32, guest, 4)                                                            \
    F(guest_gs_limit, bits32, guest, 5)                                                            \
    F(guest_ldtr_limit, bits32, guest, 6)                                                          \
    F(guest_tr_limit, bits32, guest, 7)                                                            \
    F(guest_gdtr_limit, bits32, guest, 8)                                                          \
    F(guest_idtr_limit, bits32, guest, 9)                                                          \
    F(guest_es_access_rights, bits32, guest, 10)                                                   \
    F(guest_cs_access_rights, bits32, guest, 11)                                                   \
    F(guest_ss_access_rights, bits32, guest, 12)                                                   \
    F(guest_ds_access_rights, bits32, guest, 13)                                                   \
    F(guest_fs_access_rights, bits32, guest, 14)                                                   \
    F(guest_gs_access_rights, bits32, guest, 15)                                                   \
    F(guest_ldtr_access_rights, bits32, guest, 16)                                                 \
    F(guest_tr_access_rights, bits32, guest, 17)                                                   \
    F(guest_interruptibility_state, bits32, guest, 18)                                             \
    F(guest_activity_state, bits32, guest, 19)                                                     \
    F(guest_smbase, bits32, guest, 20)                                                             \
    F(guest_ia32_sysenter_cs, bits32, guest, 21)                                                   \
    /* index 22 is unassigned */                                                                   \
    F(vmx_preemption_timer_value, bits32, guest, 23)                                               \
    /* 32-bit host-state field */                                                                  \
    F(host_ia32_sysenter_cs, bits32, host, 0)                                                      \
    /* natural-width control fields */                                                             \
    F(cr0_guest_host_mask, natural, control, 0)                                                    \
    F(cr4_guest_host_mask, natural, control, 1)                                                    \
    F(cr0_read_shadow, natural, control, 2)                                                        \
    F(cr4_read_shadow, natural, control, 3)                                                        \
    F(cr3_target_value0, natural, control, 4)                                                      \
    F(cr3_target_value1, natural, control, 5)                                                      \
    F(cr3_target_value2, natural, control, 6)                                                      \
    F(cr3_target_value3, natural, control, 7)                                                      \
    /* natural-width read-only data fields */                                                      \
    F(exit_qualification, natural, exit_info, 0)                                                   \
    F(io_rcx, natural, exit_info, 1)                                                               \
    F(io_rsi, natural, exit_info, 2)                                                               \
    F(io_rdi, natural, exit_info, 3)                                                               \
    F(io_rip, natural, exit_info, 4)                                                               \
    F(guest_linear_address, natural, exit_info, 5)                                                 \
    /* natural-width guest-state fields */                                                         \
    F(guest_cr0, natural, guest, 0)                                                                \
    F(guest_cr3, natural, guest, 1)                                                                \
    F(guest_cr4, natural, guest, 2)                                                                \
    F(guest_es_base, natural, guest, 3)                                                            \
    F(guest_cs_base, natural, guest, 4)                                                            \
    F(guest_ss_base, natural, guest, 5)                                                            \
    F(guest_ds_base, natural, guest, 6)                                                            \
    F(guest_fs_base, natural, guest, 7)                                                            \
    F(guest_gs_base, natural, guest, 8)                                                            \
    F(guest_ldtr_base, natural, guest, 9)                                                          \
    F(guest_tr_base, natural, guest, 10)                                                           \
    F(guest_gdtr_base, natural, guest, 11)                                                         \
    F(guest_idtr_base, natural, guest, 12)                                                         \
    F(guest_dr7, natural, guest, 13)                                                               \
    F(guest_rsp, natural, guest, 14)                                                               \
    F(guest_rip, natural, guest, 15)                                                               \
    F(guest_rflags, natural, guest, 16)                                                            \
    F(guest_pending_debug_exceptions, natural, guest, 17)                                          \
    F(guest_ia32_sysenter_esp, natural, guest, 18)                                                 \
    F(guest_ia32_sysenter_eip, natural, guest, 19)                                                 \
    F(guest_ia32_s_cet, natural, guest, 20)                                                        \
    F(guest_ssp, natural, guest, 21)                                                               \
    F(guest_ia32_interrupt_ssp_table_addr, natural, guest, 22)                                     \
    /* natural-width host-state fields */                                                          \
    F(host_cr0, natural, host, 0)                                                                  \
    F(host_cr3, natural, host, 1)                                                                  \
    F(host_cr4, natural, host, 2)                                                                  \
    F(host_fs_base, natural, host, 3)                                                              \
    F(host_gs_base, natural, host, 4)                                                              \
    F(host_tr_base, natural, host, 5)                                                              \
    F(host_gdtr_base, natural, host, 6)                                                            \
    F(host_idtr_base, natural, host, 7)                                                            \
    F(host_ia32_sysenter_esp, natural, host, 8)                                                    \
    F(host_ia32_sysenter_eip, natural, host, 9)                                                    \
    F(host_rsp, natural, host, 10)                                                                 \
    F(host_rip, natural, host, 11)                                                                 \
    F(host_ia32_s_cet, natural, host, 12)                                                          \
    F(host_ssp, natural, host, 13)                                                                 \
    F(host_ia32_interrupt_ssp_table_addr, natural, host, 14)

#define METRONOME_VMCS_FIELD_ENUMERATOR(name, width, type, index)                                  \
    name = encode_field(FieldWidth::width, FieldType::type, index),
#define METRONOME_VMCS_FIELD64_ENUMERATORS(name, type, index)                                      \
    name = encode_field(FieldWidth::bits64, FieldType::type, index),                               \
    name##_high = encode_field(FieldWidth::bits64, FieldType::type, index, FieldAccess::high),

// A VMCS field, valued by its encoding so it can be handed straight to VMREAD/VMWRITE.
enum class Field : std::uint32_t {
    METRONOME_VMCS_FIELDS(METRONOME_VMCS_FIELD_ENUMERATOR, METRONOME_VMCS_FIELD64_ENUMERATORS)
};

#undef METRONOME_VMCS_FIELD_ENUMERATOR
#undef METRONOME_VMCS_FIELD64_ENUMERATORS

constexpr std::uint32_t field_encoding(Field f) {
    return static_cast<std::uint32_t>(f);
}
constexpr FieldWidth field_width(Field f) {
    return decode_field(field_encoding(f)).width;
}
constexpr FieldType field_type(Field f) {
    return decode_field(field_encoding(f)).type;
}
constexpr FieldAccess field_access(Field f) {
    return decode_field(field_encoding(f)).access;
}

// The SDM's "VM-Exit Information Fields" are read-only in the basic VMX architecture. (CPUs
// reporting IA32_VMX_MISC[29] also accept VMWRITE to them; Metronome does not rely on that.)
constexpr bool is_read_only(Field f) {
    return field_type(f) == FieldType::exit_info;
}

// How many bits VMREAD returns for the field. Natural width is 64 bits on processors that
// support Intel 64, the only ones Metronome runs on; a high access reads 32 bits.
constexpr unsigned field_bits(Field f) {
    const DecodedField d = decode_field(field_encoding(f));
    if (d.access == FieldAccess::high) return 32;
    switch (d.width) {
    case FieldWidth::bits16:
        return 16;
    case FieldWidth::bits32:
        return 32;
    case FieldWidth::bits64:
    case FieldWidth::natural:
        return 64;
    }
    return 0; // unreachable: decode_field only yields the four widths
}

constexpr const char* width_name(FieldWidth w) {
    switch (w) {
    case FieldWidth::bits16:
        return "16-bit";
    case FieldWidth::bits64:
        return "64-bit";
    case FieldWidth::bits32:
        return "32-bit";
    case FieldWidth::natural:
        return "natural";
    }
    return "invalid";
}

constexpr const char* type_name(FieldType t) {
    switch (t) {
    case FieldType::control:
        return "control";
    case FieldType::exit_info:
        return "exit-info";
    case FieldType::guest:
        return "guest";
    case FieldType::host:
        return "host";
    }
    return "invalid";
}

constexpr const char* access_name(FieldAccess a) {
    switch (a) {
    case FieldAccess::full:
        return "full";
    case FieldAccess::high:
        return "high";
    }
    return "invalid";
}

} // namespace vmx
