"""Host-side tooling for Metronome: ESP images, Bochs and QEMU runs, serial-log parsing.

Modules:
    cli         the `tools/metronome` command line; COMMANDS lists the subcommand modules
    run_cmd     `metronome run`
    paths       where the repository, the build folder and the firmware files are
    build       configure and build with CMake when something is stale
    config      the metronome.cfg that goes on the ESP (and makes every tool run end)
    esp         FAT image with mtools (no root, no loop devices)
    serial_log  reading the serial log: lines, METRONOME-* markers, JSON payloads
    emulator    start an emulator, stream its serial output, stop it (shared by bochs and qemu)
    bochs       Bochs 2.7 + OVMF
    qemu        QEMU + OVMF
    caps_file   testdata/vmx-caps/*.txt files
"""
