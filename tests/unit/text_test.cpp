#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>
#include <cstring>

TEST_CASE("Text formats decimal, hex and fixed point") {
    vmx::FixedText<64> t;
    t.dec(0).chr(' ').dec(18446744073709551615ull).chr(' ').sdec(-42);
    CHECK(std::strcmp(t.c_str(), "0 18446744073709551615 -42") == 0);
    t.clear();
    t.hex(0).chr(' ').hex(0x2b, 4).chr(' ').hex(0xffffffffffffffffull);
    CHECK(std::strcmp(t.c_str(), "0x0 0x002b 0xffffffffffffffff") == 0);
    t.clear();
    t.fixed(2534, 2).chr(' ').fixed(5, 3).chr(' ').fixed(7, 0);
    CHECK(std::strcmp(t.c_str(), "25.34 0.005 7") == 0);
}

TEST_CASE("Text cuts output that does not fit and says so") {
    vmx::FixedText<8> t;
    t.str("0123456789");
    CHECK(t.truncated());
    CHECK(t.size() == 7);
    CHECK(std::strcmp(t.c_str(), "0123456") == 0);
}

TEST_CASE("Text escapes JSON strings and pads columns") {
    vmx::FixedText<64> t;
    t.json_string("a\"b\\c\n\x01");
    CHECK(std::strcmp(t.c_str(), "\"a\\\"b\\\\c\\n\\u0001\"") == 0);
    t.clear();
    t.str("ab").pad_to(5).str("|\nx").pad_to(3).chr('|');
    CHECK(std::strcmp(t.c_str(), "ab   |\nx  |") == 0);
}
