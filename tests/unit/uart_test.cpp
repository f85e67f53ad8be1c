// The 16550A (vmx/devices/uart.hpp): what Linux's 8250 driver probes and relies on.
#include "vmx/devices/uart.hpp"

#include <doctest/doctest.h>

using vmx::Uart;

TEST_CASE("uart: Linux's probe finds a 16550A") {
    Uart u;
    char c;
    u.write(1, 0x00, &c);
    CHECK(u.read(1) == 0x00);
    u.write(1, 0x0f, &c);
    CHECK(u.read(1) == 0x0f);
    u.write(1, 0x00, &c);
    u.write(2, 0x01, &c); // FCR: FIFO on
    CHECK((u.read(2) & 0xc0) == 0xc0);
    u.write(2, 0x00, &c);
    CHECK((u.read(2) & 0xc0) == 0x00);
    CHECK(u.read(5) != 0xff);         // the LSR safety check
    CHECK((u.read(5) & 0x60) == 0x60); // THRE and TEMT: ready to send
}

TEST_CASE("uart: bytes written to THR are sent; with DLAB set they program the divisor") {
    Uart u;
    char c = 0;
    CHECK(u.write(0, 'A', &c));
    CHECK(c == 'A');
    u.write(3, 0x83, &c); // DLAB
    CHECK_FALSE(u.write(0, 0x01, &c));
    CHECK(u.read(0) == 0x01);
    u.write(3, 0x03, &c);
    CHECK(u.bytes_sent == 1);
}

TEST_CASE("uart: the transmitter-empty interrupt rises when enabled, IIR acknowledges it, OUT2 gates the line") {
    Uart u;
    char c;
    u.write(4, 0x0b, &c); // DTR, RTS, OUT2
    CHECK_FALSE(u.irq_line());
    u.write(1, 0x02, &c); // ETBEI
    CHECK(u.irq_line());
    CHECK((u.read(2) & 0x0f) == 0x02);
    CHECK_FALSE(u.irq_line()); // acknowledged
    u.write(0, 'x', &c);
    CHECK(u.irq_line()); // empty again after the byte
    u.write(4, 0x03, &c); // OUT2 off
    CHECK_FALSE(u.irq_line());
}

TEST_CASE("uart: received bytes set DR and the receive interrupt, which comes before THRE") {
    Uart u;
    char c;
    u.write(4, 0x08, &c);
    u.write(1, 0x03, &c);
    CHECK(u.receive('h'));
    CHECK(u.receive('i'));
    CHECK((u.read(5) & 0x01) == 0x01);
    CHECK((u.read(2) & 0x0f) == 0x04);
    CHECK(u.read(0) == 'h');
    CHECK(u.read(0) == 'i');
    CHECK((u.read(5) & 0x01) == 0);
    for (int i = 0; i < 16; ++i) CHECK(u.receive('x'));
    CHECK_FALSE(u.receive('y'));
    CHECK(u.overruns == 1);
    CHECK((u.read(5) & 0x02) == 0x02);
    CHECK((u.read(5) & 0x02) == 0x00); // OE clears on read
}

TEST_CASE("uart: loopback returns sent bytes as received and modem lines from MCR") {
    Uart u;
    char c = 0;
    u.write(4, 0x1f, &c);
    CHECK_FALSE(u.write(0, 'q', &c));
    CHECK(u.read(0) == 'q');
    CHECK(u.read(6) == 0xf0);
    u.write(4, 0x00, &c);
    CHECK(u.read(6) == 0xb0);
}

TEST_CASE("uart line: how long bytes take at the settings a UART holds") {
    namespace line = vmx::uart_line;
    // 8N1 (LCR 0x03): 10 bits a byte; 7E2 (0x02 | parity | two stop bits): 1 + 7 + 1 + 2.
    CHECK(line::bits_per_byte(0x03) == 10);
    CHECK(line::bits_per_byte(0x02 | line::parity_on | line::two_stop_bits) == 11);
    // 5 data bits with "two" stop bits are 1.5 on the line, counted as 2: never an early look.
    CHECK(line::bits_per_byte(0x00 | line::two_stop_bits) == 8);
    // 115200 8N1 (divisor 1) at 10^9 ticks a second: one byte 86,806 ticks (rounded up), four
    // 347,223; 9600 (divisor 12) twelve times as long.
    CHECK(line::transmit_ticks(0x03, 1, 1, 1'000'000'000) == 86'806);
    CHECK(line::transmit_ticks(0x03, 1, 4, 1'000'000'000) == 347'223);
    CHECK(line::transmit_ticks(0x03, 12, 1, 1'000'000'000) == 1'041'667);
    // DLAB in LCR does not change the line's bits.
    CHECK(line::bits_per_byte(0x03 | line::divisor_latch_access) == 10);
    // Nonsense settings give no estimate: the caller then looks every time.
    CHECK(line::transmit_ticks(0x03, 0, 4, 1'000'000'000) == 0);
    CHECK(line::transmit_ticks(0x03, 1, 4, 0) == 0);
}
