// config-keys: prints the README's configuration key table (Markdown), generated from the key
// list vmx/config/config_keys.hpp. tests/unit/config_doc_test.cpp checks that the README's table
// is this one; after changing a key, paste this output between the README's markers.
#include "vmx/config/config_doc.hpp"

#include <cstdio>

int main() {
    static char storage[64 * 1024];
    vmx::Text table(storage, sizeof storage);
    vmx::write_config_key_table(table);
    if (table.truncated()) {
        std::fprintf(stderr, "config-keys: the table did not fit its buffer\n");
        return 1;
    }
    std::fputs(table.c_str(), stdout);
    return 0;
}
