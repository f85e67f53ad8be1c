#include "vmx/arch/control_registers.hpp"

namespace vmx {

const char* cr0_bit_name(unsigned bit) {
    switch (bit) {
    case 0: return "PE";
    case 1: return "MP";
    case 2: return "EM";
    case 3: return "TS";
    case 4: return "ET";
    case 5: return "NE";
    case 16: return "WP";
    case 18: return "AM";
    case 29: return "NW";
    case 30: return "CD";
    case 31: return "PG";
    default: return "reserved";
    }
}

const char* cr4_bit_name(unsigned bit) {
    switch (bit) {
    case 0: return "VME";
    case 1: return "PVI";
    case 2: return "TSD";
    case 3: return "DE";
    case 4: return "PSE";
    case 5: return "PAE";
    case 6: return "MCE";
    case 7: return "PGE";
    case 8: return "PCE";
    case 9: return "OSFXSR";
    case 10: return "OSXMMEXCPT";
    case 11: return "UMIP";
    case 12: return "LA57";
    case 13: return "VMXE";
    case 14: return "SMXE";
    case 16: return "FSGSBASE";
    case 17: return "PCIDE";
    case 18: return "OSXSAVE";
    case 20: return "SMEP";
    case 21: return "SMAP";
    case 22: return "PKE";
    default: return "reserved";
    }
}

} // namespace vmx
