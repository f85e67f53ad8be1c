# Build-time check, run after linking the guest image: _start must be at 0x10000, because the
# hypervisor enters a flat image at its first byte. Usage:
#   cmake -DNM=<nm> -DELF=<image.elf> -P check_entry.cmake
# On failure the ELF is removed, so the next build links again instead of trusting it.
execute_process(COMMAND "${NM}" "${ELF}" OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${ELF}")
  message(FATAL_ERROR "guest image: '${NM} ${ELF}' failed (${rc})")
endif()
string(REGEX MATCH "([0-9a-fA-F]+) [A-Za-z] _start\n" line "${symbols}")
if(NOT line)
  file(REMOVE "${ELF}")
  message(FATAL_ERROR "guest image: no _start symbol in ${ELF}")
endif()
string(REGEX REPLACE "^0+" "" address "${CMAKE_MATCH_1}")
if(NOT address STREQUAL "10000")
  file(REMOVE "${ELF}")
  message(FATAL_ERROR "guest image: _start is at 0x${CMAKE_MATCH_1}, must be at 0x10000 "
                      "(the hypervisor enters the image at its first byte)")
endif()
