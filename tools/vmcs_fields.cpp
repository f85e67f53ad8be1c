// vmcs-fields: prints the VMCS field catalogue (vmx/arch/vmcs_field_catalogue.hpp) as CSV, one row
// per encoding VMREAD/VMWRITE accept, for diffing against the SDM appendix "Field Encoding in
// VMCS" or feeding other tools. Columns: name,encoding,width,type,access.
#include <cstdio>

#include "vmx/arch/vmcs_field_catalogue.hpp"
#include "vmx/arch/vmcs_fields.hpp"

int main() {
    std::printf("name,encoding,width,type,access\n");
    for (const vmx::FieldInfo& info : vmx::kFieldCatalogue) {
        const vmx::DecodedField d = vmx::decode_field(vmx::field_encoding(info.field));
        std::printf("%s,0x%04x,%s,%s,%s\n", info.name, vmx::field_encoding(info.field),
                    vmx::width_name(d.width), vmx::type_name(d.type), vmx::access_name(d.access));
    }
    // A closed pipe or a full disk must not pass for a complete listing.
    return std::fflush(stdout) == 0 && std::ferror(stdout) == 0 ? 0 : 1;
}
