// COM1 output by polling the UART directly: works before, during and after anything the
// firmware does, and later from VMX root where UEFI must not be called.
#pragma once
#include <cstddef>

namespace boot::serial {

// Writes n bytes to COM1, turning "\n" into "\r\n" (a bare LF leaves terminals mid-line).
void write(const char* s, std::size_t n);

} // namespace boot::serial
