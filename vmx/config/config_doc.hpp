// The documentation derived from the configuration key list (vmx/config/config_keys.hpp).
#pragma once
#include "vmx/lib/text.hpp"

namespace vmx {

// The README's key table in Markdown: a header row, then one row per key in the list's order
// with its name, where it may appear (global, guest, or both: a global default a guest may
// override), its values, its default and its meaning; every line ends in '\n'.
void write_config_key_table(Text& out);

} // namespace vmx
