// Host-only helpers for tests that read files under METRONOME_TESTDATA (the folder that holds
// vmx-caps/). Files are listed at test time, so adding a capability dump adds test coverage
// without touching a test.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef METRONOME_TESTDATA
#error "METRONOME_TESTDATA must name the folder that contains vmx-caps/"
#endif

namespace testdata {

inline std::filesystem::path root() {
    return std::filesystem::path(METRONOME_TESTDATA);
}

inline std::filesystem::path vmx_caps_dir() {
    return root() / "vmx-caps";
}

// Every regular *.txt file in `dir`, sorted by name so that failures are reproducible.
inline std::vector<std::filesystem::path> list_files(const std::filesystem::path& dir,
                                                     const std::string& extension = ".txt") {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == extension) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

inline std::vector<std::filesystem::path> vmx_caps_files() {
    return list_files(vmx_caps_dir());
}

// What the capability files say about Metronome, written down here independently of the code
// that decides it, so the tests over "every CPU in testdata" can check each verdict:
//  - refused: Bochs' Core 2 (Penryn) model has neither EPT nor the VMX preemption timer;
//  - without unrestricted guest (an optional need): the Nehalem i7-870 and Bochs' Lynnfield.
inline bool refused_cpu(const std::filesystem::path& file) {
    return file.filename() == "bochs-2.7-core2_penryn_t9600.txt";
}
inline bool lacks_unrestricted_guest(const std::filesystem::path& file) {
    const std::string name = file.filename().string();
    return name == "nehalem-i7-870.txt" || name == "bochs-2.7-corei5_lynnfield_750.txt" ||
           refused_cpu(file);
}

// The whole file as bytes; empty when it cannot be read (tests check for that).
inline std::string load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace testdata
