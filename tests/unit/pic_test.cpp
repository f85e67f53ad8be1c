// The 8259A pair (vmx/devices/pic.hpp): Linux's probe and initialisation, masking, nested
// priority across the cascade, specific and non-specific EOI, and reading ISR.
#include "vmx/devices/pic.hpp"

#include <doctest/doctest.h>

using vmx::Pic;

namespace {

// init_8259A (arch/x86/kernel/i8259.c): ICW1-4 = 0x11, 0x30, 0x04, 0x01 and 0x11, 0x38, 0x02, 0x01.
Pic linux_pic() {
    Pic p;
    p.write(0x21, 0xff);
    p.write(0xa1, 0xff);
    p.write(0x20, 0x11);
    p.write(0x21, 0x30);
    p.write(0x21, 0x04);
    p.write(0x21, 0x01);
    p.write(0xa0, 0x11);
    p.write(0xa1, 0x38);
    p.write(0xa1, 0x02);
    p.write(0xa1, 0x01);
    p.write(0x21, 0xfb); // all masked but the cascade
    p.write(0xa1, 0xff);
    return p;
}

} // namespace

TEST_CASE("pic: Linux's probe reads back the mask it wrote") {
    Pic p;
    p.write(0xa1, 0xff);
    p.write(0x21, 0xfb);
    CHECK(p.read(0x21) == 0xfb);
    CHECK(p.read(0xa1) == 0xff);
}

TEST_CASE("pic: a masked request waits; unmasked it is presented with the programmed vector") {
    Pic p = linux_pic();
    p.raise(4);
    CHECK(p.pending() == -1);
    p.write(0x21, 0xeb); // unmask IRQ 4
    CHECK(p.pending() == 0x34);
    CHECK(p.acknowledge() == 0x34);
    CHECK(p.pending() == -1);
    p.write(0x20, 0x0b); // OCW3: read ISR
    CHECK(p.read(0x20) == 0x10);
    p.write(0x20, 0x64); // specific EOI for IRQ 4 (Linux: 0x60 + irq)
    CHECK(p.read(0x20) == 0x00);
    p.write(0x20, 0x0a); // back to IRR
    CHECK(p.read(0x20) == 0x00);
}

TEST_CASE("pic: fully nested: a request waits while an equal or higher level is in service") {
    Pic p = linux_pic();
    p.write(0x21, 0x00);
    p.write(0xa1, 0x00);
    p.raise(4);
    CHECK(p.acknowledge() == 0x34);
    p.raise(6);
    CHECK(p.pending() == -1); // lower priority than IRQ 4 in service
    p.raise(1);
    CHECK(p.pending() == 0x31); // higher priority nests
    CHECK(p.acknowledge() == 0x31);
    p.write(0x20, 0x20); // non-specific EOI: the highest in service, IRQ 1
    p.write(0x20, 0x20); // then IRQ 4
    CHECK(p.pending() == 0x36);
}

TEST_CASE("pic: slave requests arrive through the cascade with the slave's vectors") {
    Pic p = linux_pic();
    p.write(0xa1, 0xfe); // unmask IRQ 8
    p.raise(8);
    CHECK(p.pending() == 0x38);
    CHECK(p.acknowledge() == 0x38);
    CHECK(p.pending() == -1);
    p.write(0xa0, 0x60); // specific EOI on the slave
    p.write(0x20, 0x62); // and for the cascade on the master
    p.raise(8);
    CHECK(p.pending() == 0x38);
}

TEST_CASE("pic: auto-EOI leaves nothing in service") {
    Pic p;
    p.write(0x20, 0x11);
    p.write(0x21, 0x30);
    p.write(0x21, 0x04);
    p.write(0x21, 0x03); // ICW4 with AEOI
    p.write(0x21, 0x00);
    p.raise(0);
    CHECK(p.acknowledge() == 0x30);
    p.raise(0);
    CHECK(p.pending() == 0x30);
    CHECK(p.acknowledged == 1);
}
