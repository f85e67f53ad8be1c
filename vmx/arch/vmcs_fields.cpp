// Compile-time proof that the Field enum, built from (width, type, index, access), matches the
// literal encodings printed in the Intel SDM appendix "Field Encoding in VMCS". The literals
// below are typed in from the SDM tables, independently of the field list in vmcs_fields.hpp,
// so a wrong index there (or a row missing here) stops the build of metronome_core.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/arch/vmcs_fields.hpp"

namespace vmx {
namespace {

struct SdmEncoding {
    Field field;
    std::uint32_t sdm;
};

// One row per catalogue entry, in the same (encoding) order.
constexpr SdmEncoding kSdmEncodings[] = {
    // 16-bit control fields
    {Field::virtual_processor_id, 0x0000},
    {Field::posted_interrupt_notification_vector, 0x0002},
    {Field::eptp_index, 0x0004},
    // 16-bit guest-state fields
    {Field::guest_es_selector, 0x0800},
    {Field::guest_cs_selector, 0x0802},
    {Field::guest_ss_selector, 0x0804},
    {Field::guest_ds_selector, 0x0806},
    {Field::guest_fs_selector, 0x0808},
    {Field::guest_gs_selector, 0x080a},
    {Field::guest_ldtr_selector, 0x080c},
    {Field::guest_tr_selector, 0x080e},
    {Field::guest_interrupt_status, 0x0810},
    {Field::pml_index, 0x0812},
    // 16-bit host-state fields
    {Field::host_es_selector, 0x0c00},
    {Field::host_cs_selector, 0x0c02},
    {Field::host_ss_selector, 0x0c04},
    {Field::host_ds_selector, 0x0c06},
    {Field::host_fs_selector, 0x0c08},
    {Field::host_gs_selector, 0x0c0a},
    {Field::host_tr_selector, 0x0c0c},
    // 64-bit control fields
    {Field::io_bitmap_a_address, 0x2000},
    {Field::io_bitmap_a_address_high, 0x2001},
    {Field::io_bitmap_b_address, 0x2002},
    {Field::io_bitmap_b_address_high, 0x2003},
    {Field::msr_bitmap_address, 0x2004},
    {Field::msr_bitmap_address_high, 0x2005},
    {Field::exit_msr_store_address, 0x2006},
    {Field::exit_msr_store_address_high, 0x2007},
    {Field::exit_msr_load_address, 0x2008},
    {Field::exit_msr_load_address_high, 0x2009},
    {Field::entry_msr_load_address, 0x200a},
    {Field::entry_msr_load_address_high, 0x200b},
    {Field::executive_vmcs_pointer, 0x200c},
    {Field::executive_vmcs_pointer_high, 0x200d},
    {Field::pml_address, 0x200e},
    {Field::pml_address_high, 0x200f},
    {Field::tsc_offset, 0x2010},
    {Field::tsc_offset_high, 0x2011},
    {Field::virtual_apic_address, 0x2012},
    {Field::virtual_apic_address_high, 0x2013},
    {Field::apic_access_address, 0x2014},
    {Field::apic_access_address_high, 0x2015},
    {Field::posted_interrupt_descriptor_address, 0x2016},
    {Field::posted_interrupt_descriptor_address_high, 0x2017},
    {Field::vm_function_controls, 0x2018},
    {Field::vm_function_controls_high, 0x2019},
    {Field::ept_pointer, 0x201a},
    {Field::ept_pointer_high, 0x201b},
    {Field::eoi_exit_bitmap0, 0x201c},
    {Field::eoi_exit_bitmap0_high, 0x201d},
    {Field::eoi_exit_bitmap1, 0x201e},
    {Field::eoi_exit_bitmap1_high, 0x201f},
    {Field::eoi_exit_bitmap2, 0x2020},
    {Field::eoi_exit_bitmap2_high, 0x2021},
    {Field::eoi_exit_bitmap3, 0x2022},
    {Field::eoi_exit_bitmap3_high, 0x2023},
    {Field::eptp_list_address, 0x2024},
    {Field::eptp_list_address_high, 0x2025},
    {Field::vmread_bitmap_address, 0x2026},
    {Field::vmread_bitmap_address_high, 0x2027},
    {Field::vmwrite_bitmap_address, 0x2028},
    {Field::vmwrite_bitmap_address_high, 0x2029},
    {Field::virtualization_exception_info_address, 0x202a},
    {Field::virtualization_exception_info_address_high, 0x202b},
    {Field::xss_exiting_bitmap, 0x202c},
    {Field::xss_exiting_bitmap_high, 0x202d},
    {Field::encls_exiting_bitmap, 0x202e},
    {Field::encls_exiting_bitmap_high, 0x202f},
    {Field::tsc_multiplier, 0x2032},
    {Field::tsc_multiplier_high, 0x2033},
    // 64-bit read-only data field
    {Field::guest_physical_address, 0x2400},
    {Field::guest_physical_address_high, 0x2401},
    // 64-bit guest-state fields
    {Field::vmcs_link_pointer, 0x2800},
    {Field::vmcs_link_pointer_high, 0x2801},
    {Field::guest_ia32_debugctl, 0x2802},
    {Field::guest_ia32_debugctl_high, 0x2803},
    {Field::guest_ia32_pat, 0x2804},
    {Field::guest_ia32_pat_high, 0x2805},
    {Field::guest_ia32_efer, 0x2806},
    {Field::guest_ia32_efer_high, 0x2807},
    {Field::guest_ia32_perf_global_ctrl, 0x2808},
    {Field::guest_ia32_perf_global_ctrl_high, 0x2809},
    {Field::guest_pdpte0, 0x280a},
    {Field::guest_pdpte0_high, 0x280b},
    {Field::guest_pdpte1, 0x280c},
    {Field::guest_pdpte1_high, 0x280d},
    {Field::guest_pdpte2, 0x280e},
    {Field::guest_pdpte2_high, 0x280f},
    {Field::guest_pdpte3, 0x2810},
    {Field::guest_pdpte3_high, 0x2811},
    {Field::guest_ia32_bndcfgs, 0x2812},
    {Field::guest_ia32_bndcfgs_high, 0x2813},
    {Field::guest_ia32_rtit_ctl, 0x2814},
    {Field::guest_ia32_rtit_ctl_high, 0x2815},
    // 64-bit host-state fields
    {Field::host_ia32_pat, 0x2c00},
    {Field::host_ia32_pat_high, 0x2c01},
    {Field::host_ia32_efer, 0x2c02},
    {Field::host_ia32_efer_high, 0x2c03},
    {Field::host_ia32_perf_global_ctrl, 0x2c04},
    {Field::host_ia32_perf_global_ctrl_high, 0x2c05},
    // 32-bit control fields
    {Field::pin_based_controls, 0x4000},
    {Field::primary_processor_based_controls, 0x4002},
    {Field::exception_bitmap, 0x4004},
    {Field::page_fault_error_code_mask, 0x4006},
    {Field::page_fault_error_code_match, 0x4008},
    {Field::cr3_target_count, 0x400a},
    {Field::exit_controls, 0x400c},
    {Field::exit_msr_store_count, 0x400e},
    {Field::exit_msr_load_count, 0x4010},
    {Field::entry_controls, 0x4012},
    {Field::entry_msr_load_count, 0x4014},
    {Field::entry_interruption_info, 0x4016},
    {Field::entry_exception_error_code, 0x4018},
    {Field::entry_instruction_length, 0x401a},
    {Field::tpr_threshold, 0x401c},
    {Field::secondary_processor_based_controls, 0x401e},
    {Field::ple_gap, 0x4020},
    {Field::ple_window, 0x4022},
    // 32-bit read-only data fields
    {Field::vm_instruction_error, 0x4400},
    {Field::exit_reason, 0x4402},
    {Field::exit_interruption_info, 0x4404},
    {Field::exit_interruption_error_code, 0x4406},
    {Field::idt_vectoring_info, 0x4408},
    {Field::idt_vectoring_error_code, 0x440a},
    {Field::exit_instruction_length, 0x440c},
    {Field::exit_instruction_info, 0x440e},
    // 32-bit guest-state fields
    {Field::guest_es_limit, 0x4800},
    {Field::guest_cs_limit, 0x4802},
    {Field::guest_ss_limit, 0x4804},
    {Field::guest_ds_limit, 0x4806},
    {Field::guest_fs_limit, 0x4808},
    {Field::guest_gs_limit, 0x480a},
    {Field::guest_ldtr_limit, 0x480c},
    {Field::guest_tr_limit, 0x480e},
    {Field::guest_gdtr_limit, 0x4810},
    {Field::guest_idtr_limit, 0x4812},
    {Field::guest_es_access_rights, 0x4814},
    {Field::guest_cs_access_rights, 0x4816},
    {Field::guest_ss_access_rights, 0x4818},
    {Field::guest_ds_access_rights, 0x481a},
    {Field::guest_fs_access_rights, 0x481c},
    {Field::guest_gs_access_rights, 0x481e},
    {Field::guest_ldtr_access_rights, 0x4820},
    {Field::guest_tr_access_rights, 0x4822},
    {Field::guest_interruptibility_state, 0x4824},
    {Field::guest_activity_state, 0x4826},
    {Field::guest_smbase, 0x4828},
    {Field::guest_ia32_sysenter_cs, 0x482a},
    {Field::vmx_preemption_timer_value, 0x482e},
    // 32-bit host-state field
    {Field::host_ia32_sysenter_cs, 0x4c00},
    // natural-width control fields
    {Field::cr0_guest_host_mask, 0x6000},
    {Field::cr4_guest_host_mask, 0x6002},
    {Field::cr0_read_shadow, 0x6004},
    {Field::cr4_read_shadow, 0x6006},
    {Field::cr3_target_value0, 0x6008},
    {Field::cr3_target_value1, 0x600a},
    {Field::cr3_target_value2, 0x600c},
    {Field::cr3_target_value3, 0x600e},
    // natural-width read-only data fields
    {Field::exit_qualification, 0x6400},
    {Field::io_rcx, 0x6402},
    {Field::io_rsi, 0x6404},
    {Field::io_rdi, 0x6406},
    {Field::io_rip, 0x6408},
    {Field::guest_linear_address, 0x640a},
    // natural-width guest-state fields
    {Field::guest_cr0, 0x6800},
    {Field::guest_cr3, 0x6802},
    {Field::guest_cr4, 0x6804},
    {Field::guest_es_base, 0x6806},
    {Field::guest_cs_base, 0x6808},
    {Field::guest_ss_base, 0x680a},
    {Field::guest_ds_base, 0x680c},
    {Field::guest_fs_base, 0x680e},
    {Field::guest_gs_base, 0x6810},
    {Field::guest_ldtr_base, 0x6812},
    {Field::guest_tr_base, 0x6814},
    {Field::guest_gdtr_base, 0x6816},
    {Field::guest_idtr_base, 0x6818},
    {Field::guest_dr7, 0x681a},
    {Field::guest_rsp, 0x681c},
    {Field::guest_rip, 0x681e},
    {Field::guest_rflags, 0x6820},
    {Field::guest_pending_debug_exceptions, 0x6822},
    {Field::guest_ia32_sysenter_esp, 0x6824},
    {Field::guest_ia32_sysenter_eip, 0x6826},
    {Field::guest_ia32_s_cet, 0x6828},
    {Field::guest_ssp, 0x682a},
    {Field::guest_ia32_interrupt_ssp_table_addr, 0x682c},
    // natural-width host-state fields
    {Field::host_cr0, 0x6c00},
    {Field::host_cr3, 0x6c02},
    {Field::host_cr4, 0x6c04},
    {Field::host_fs_base, 0x6c06},
    {Field::host_gs_base, 0x6c08},
    {Field::host_tr_base, 0x6c0a},
    {Field::host_gdtr_base, 0x6c0c},
    {Field::host_idtr_base, 0x6c0e},
    {Field::host_ia32_sysenter_esp, 0x6c10},
    {Field::host_ia32_sysenter_eip, 0x6c12},
    {Field::host_rsp, 0x6c14},
    {Field::host_rip, 0x6c16},
    {Field::host_ia32_s_cet, 0x6c18},
    {Field::host_ssp, 0x6c1a},
    {Field::host_ia32_interrupt_ssp_table_addr, 0x6c1c},
};

constexpr std::size_t kSdmRows = std::extent_v<decltype(kSdmEncodings)>;

// Index of the first row whose enumerator differs from the SDM literal or from the catalogue
// entry at the same position; kSdmRows when every row agrees. Comparing position by position
// makes the table cover the whole catalogue, not just the fields somebody remembered to list.
constexpr std::size_t first_disagreement() {
    for (std::size_t i = 0; i < kSdmRows && i < kFieldCount; ++i) {
        if (field_encoding(kSdmEncodings[i].field) != kSdmEncodings[i].sdm) return i;
        if (kSdmEncodings[i].field != kFieldCatalogue[i].field) return i;
    }
    return kSdmRows;
}

static_assert(kSdmRows == kFieldCount, "every catalogue entry needs its SDM literal here");
static_assert(first_disagreement() == kSdmRows, "a Field enumerator differs from the SDM");

// The fields other Metronome code builds on, spelled out so a failure names the field.
static_assert(Field::virtual_processor_id == Field{0x0000});
static_assert(Field::ept_pointer == Field{0x201a});
static_assert(Field::tsc_offset_high == Field{0x2011});
static_assert(Field::vmcs_link_pointer == Field{0x2800});
static_assert(Field::pin_based_controls == Field{0x4000});
static_assert(Field::primary_processor_based_controls == Field{0x4002});
static_assert(Field::secondary_processor_based_controls == Field{0x401e});
static_assert(Field::exit_controls == Field{0x400c});
static_assert(Field::entry_controls == Field{0x4012});
static_assert(Field::vm_instruction_error == Field{0x4400});
static_assert(Field::exit_reason == Field{0x4402});
static_assert(Field::vmx_preemption_timer_value == Field{0x482e});
static_assert(Field::exit_qualification == Field{0x6400});
static_assert(Field::guest_rip == Field{0x681e});
static_assert(Field::host_rsp == Field{0x6c14});
static_assert(Field::host_rip == Field{0x6c16});

} // namespace
} // namespace vmx
