// The configuration keys: the one list that defines them. Everything else is derived from it:
// the ConfigKey enum, the fields of Config and GuestConfig (and their defaults), the parser's key
// table, inheritance of global defaults, the JSON printer, the "keys here" hint in errors and the
// README's key table (vmx/config/config_doc.cpp; tests/unit/config_doc_test.cpp checks that the
// README says exactly this). Adding a key is one line here, plus its meaning where it has one
// beyond its value (a rule in finalize_config, or the code that uses the field).
//
// X(key, kind, scope, min, max, default, doc):
//   key      the name in the file, the ConfigKey enumerator and the field name;
//   kind     ConfigKind: the field's type and how a value is read (vmx/config/config.hpp);
//   scope    global: only above the first [guest NAME] section (a field of Config);
//            guest:  only in a section (a field of GuestConfig);
//            both:   a global default that a guest may override; finalize_config copies the
//                    global value into every guest that did not set the key (fields of both);
//   min,max  the accepted range of the number kinds (unused by the others: 0, 0);
//   default  the value when the key is not set (for `both`: the global default);
//   doc      one line of meaning: the README key table's last column.
// Keys named test_* are for the end-to-end tests: they work, but the "keys here" hint of an
// unknown-key error does not offer them and the JSON shows them only when set.
// The order is the order of the README table, of the JSON and of the "keys here" hint.
#pragma once

#define METRONOME_CONFIG_KEYS(X)                                                                   \
    X(image, image, guest, 0, 0, "",                                                               \
      "What the guest runs: a built-in workload (its name, e.g. `spin`) or an ELF image on the "   \
      "boot volume (`\\guests\\a.elf`, guest/ABI.md). Each guest has an image or a kernel.")       \
    X(kernel, path, guest, 0, 0, "",                                                               \
      "An unmodified Linux kernel (vmlinux ELF) on the boot volume, run instead of an image.")     \
    X(initrd, path, guest, 0, 0, "",                                                               \
      "An initial ramdisk on the boot volume for the guest's kernel (needs `kernel`).")            \
    X(cmdline, cmdline, guest, 0, 0, {},                                                           \
      "The kernel command line (needs `kernel`): the rest of the line after the first `=`, "       \
      "trimmed, byte for byte (quotes and further `=` included); `#` starts a comment.")           \
    X(param, uint64, guest, 0, UINT64_MAX, 0,                                                      \
      "A number the workload gets in RSI at entry (e.g. `crash` faults after N ticks).")           \
    X(duration_ms, uint32, global, 1, 3'600'000, 1000,                                             \
      "How long the guests run, in milliseconds of TSC time.")                                     \
    X(measure_ms, uint32, global, 0, 3'600'000, 0,                                                 \
      "Measure this many milliseconds from the moment every guest is ready (a Linux guest says "   \
      "so with the `ready` hypercall), then end the run; 0: the whole run is measured.")           \
    X(slice_us, uint32, both, 10, 1'000'000, 1000,                                                 \
      "The length of one time slice in microseconds, cut by the VMX preemption timer.")            \
    X(policy, policy, global, 0, 0, Policy::fixed,                                                 \
      "`fixed`: a slot per guest in a cyclic frame; `shared`: round robin over the runnable "      \
      "guests; `capped`: `cap_percent` of every `period_us`, work-conserving within it.")          \
    X(yield_on_hlt, boolean, both, 0, 0, false,                                                    \
      "HLT exiting: a halted guest gives up the rest of its slice (1) or halts natively inside "   \
      "it (0).")                                                                                   \
    X(on_guest_exit, on_guest_exit, global, 0, 0, OnGuestExit::reserve,                            \
      "A dead guest's slot stays idle (`reserve`) or goes to the others (`reclaim`); unless set, " \
      "`reclaim` under `shared` and `capped`.")                                                    \
    X(on_finish, on_finish, global, 0, 0, OnFinish::return_to_firmware,                            \
      "After the run: back to the firmware's boot manager, or power off (for emulator runs).")     \
    X(tick_hz, uint32, both, 0, 10'000, 0,                                                         \
      "A virtual tick (external interrupt, vector 0x20) this many times a second; 0: none. The "   \
      "`idle` workload needs one.")                                                                \
    X(memory_mib, uint32, both, 1, 2048, 2,                                                        \
      "The guest's own memory in MiB (its EPT maps nothing else); at most 256 unless the guest "   \
      "runs a `kernel`.")                                                                          \
    X(period_us, uint32, both, 10, 10'000'000, 100'000,                                            \
      "Under `capped`: the period in microseconds of which the guest may use `cap_percent` "       \
      "(ignored under the other policies).")                                                       \
    X(tsc_hz, uint64_or_0, global, 1'000'000, 100'000'000'000, 0,                                  \
      "The TSC rate in Hz; 0: measured against the firmware's Stall.")                             \
    X(tsc, tsc_mode, both, 0, 0, TscMode::wall,                                                    \
      "The guest's TSC: the host's (`wall`: it advances while the guest waits for the CPU too) "   \
      "or its own (`own`: it advances only while the guest runs).")                                \
    X(cap_percent, uint32, both, 1, 100, 100,                                                      \
      "Under `capped`: the share of every `period_us` the guest may use, in percent (ignored "     \
      "under the other policies).")                                                                \
    X(cpu, uint32, both, 0, max_cpus - 1, 0,                                                  \
      "The processor the guest runs on, as the firmware numbers them (0: the boot CPU); each "     \
      "CPU has its own VMX root and its own schedule of the guests on it, with no migration.")     \
    X(debug_break, debug_break, global, 0, 0, DebugBreak::none,                                    \
      "Bochs magic breakpoints for `tools/metronome debug`: after the configuration is read "      \
      "(`start`), and also before `debug_guest`'s first VM entry (`vmentry`).")                    \
    X(debug_guest, guest_name, global, 0, 0, "",                                                   \
      "The guest whose first VM entry stops under `debug_break = vmentry`; unset: the first "      \
      "guest entered.")                                                                            \
    X(console_input, guest_name, global, 0, 0, "",                                                 \
      "The Linux guest whose ttyS0 gets the bytes arriving on Metronome's own COM1 (`tools/"       \
      "metronome run CFG --console NAME`); unset: nothing typed reaches a guest.")                 \
    X(test_corrupt_guest_state, boolean, guest, 0, 0, false,                                       \
      "Test only: an invalid guest RFLAGS in this guest's VMCS, so its VM entry fails the "        \
      "guest-state checks (exit reason 33).")                                                      \
    X(test_fail_vmxon, boolean, global, 0, 0, false,                                               \
      "Test only: a VMXON region with a wrong revision identifier, so VMXON itself fails.")
