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

// The whole file as bytes; empty when it cannot be read (tests check for that).
inline std::string load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace testdata
