# Post-link check of metronome.so, run by the build (cmake -DREADELF=... -DELF=... -P this).
# gnu-efi's _relocate applies only R_X86_64_RELATIVE, and crt0 ignores its result: any other
# dynamic relocation would leave a wrong pointer that fails at run time, far from its cause.
execute_process(COMMAND ${READELF} --relocs --wide ${ELF}
                OUTPUT_VARIABLE relocs RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on ${ELF}")
endif()
string(REGEX MATCHALL "R_X86_64_[A-Z0-9_]+" types "${relocs}")
list(REMOVE_DUPLICATES types)
list(REMOVE_ITEM types R_X86_64_RELATIVE R_X86_64_NONE)
if(types)
  message(FATAL_ERROR "${ELF} needs dynamic relocations that gnu-efi's _relocate cannot apply: "
                      "${types}\n(usually a symbol with default visibility or a non-PIC object)")
endif()
