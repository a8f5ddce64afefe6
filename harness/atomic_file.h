// Atomic writes: the content goes to a temporary file in the same folder, is flushed, then renamed
// over the destination, so a run killed at any moment leaves either the old file or the new one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace osor::harness {

void write_file_atomic(const std::filesystem::path& path, const std::string& content);
void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& content);

// Puts the file `source` at `path` without re-encoding it: a hard link (made under a temporary name, then renamed
// into place), or an atomic copy where the two are on different file systems or links are refused. The caller
// promises never to write into either file in place (atomic writes replace files, they never modify them).
void link_or_copy_file_atomic(const std::filesystem::path& source, const std::filesystem::path& path);

// Deletes the temporaries that write_file_atomic left below `dir` when its process died mid-write (names
// ".<file>.tmp<pid>_<n>" whose process no longer runs; a live process's are kept). Returns how many it deleted.
// A resumed run calls it first, so that nothing half-written stays in a run folder.
size_t remove_orphaned_temporaries(const std::filesystem::path& dir);

// The whole file as bytes; throws HarnessError naming the file if it is missing or unreadable.
std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path);

}  // namespace osor::harness
