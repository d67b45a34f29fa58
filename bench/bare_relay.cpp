// chunkex-bare-relay: the floor of the default exchange (issue 11). The same
// bytes moved the same way as chunkex moves them, with no protocol: four
// clients (threads), each sending every chunk of its own file once to each of
// the others through one relay thread over loopback TCP; receivers pwrite
// every chunk into an output file and, unless --no-hash, feed it to SHA-256
// (OpenSSL EVP through common/sha256, as the clients do). Senders use
// sendfile(2), as chunkex does for own chunks. With --hash-own each client
// first hashes its own file, as a chunkex client must before it can announce
// it (not part of the floor the issue defines; run.sh reports it beside).
//
// Each client has one connection to the relay: a sender thread writes frames
// into it and a receiver thread reads the frames relayed to it. The relay is
// one thread: poll(2) over the four connections, read a whole frame from a
// ready one (two blocking reads: header, then payload with MSG_WAITALL), and
// write it to its receiver with one sendmsg. A frame is a 24-byte header
// (receiver, owner, offset, length) and the chunk. Receivers always drain, so
// the relay's blocking writes cannot deadlock.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "common/bytes.h"
#include "common/io/file_chunk_store.h"
#include "common/sha256.h"

namespace {

constexpr size_t kPeers = 4;
// Largest --chunk-bytes. The relay and each receiver hold one payload buffer
// of --chunk-bytes (one frame's chunk).
constexpr uint32_t kChunkBytesMax = 16u << 20;

struct FrameHeader {
  uint32_t receiver = 0;
  uint32_t owner = 0;
  uint64_t offset = 0;
  uint32_t length_bytes = 0;
  uint32_t unused = 0;
};
static_assert(sizeof(FrameHeader) == 24);

struct Options {
  std::string data_dir;
  std::string out_dir;
  uint32_t chunk_bytes = 128 * 1024;
  bool hash = true;
  bool hash_own = false;
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

char letter(size_t peer) {
  return static_cast<char>('A' + peer);
}

uint64_t file_bytes(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) fail("cannot stat " + path);
  return static_cast<uint64_t>(info.st_size);
}

void read_exactly(int fd, void* data, size_t bytes) {
  auto* at = static_cast<uint8_t*>(data);
  while (bytes > 0) {
    ssize_t got = ::recv(fd, at, bytes, MSG_WAITALL);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail("recv");
    at += got;
    bytes -= static_cast<size_t>(got);
  }
}

// Writes every byte of `parts` (sendmsg resumes after a short write).
void write_all(int fd, std::array<iovec, 2> parts) {
  size_t first = 0;
  while (first < parts.size()) {
    msghdr message{};
    message.msg_iov = parts.data() + first;
    message.msg_iovlen = parts.size() - first;
    ssize_t put = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail("sendmsg");
    auto left = static_cast<size_t>(put);
    for (; first < parts.size() && left >= parts[first].iov_len; ++first) {
      left -= parts[first].iov_len;
    }
    if (first < parts.size()) {
      parts[first].iov_base = static_cast<uint8_t*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
}

void send_file_region(int socket_fd, int file_fd, uint64_t offset, uint32_t length_bytes) {
  auto at = static_cast<off_t>(offset);
  while (length_bytes > 0) {
    ssize_t sent = ::sendfile(socket_fd, file_fd, &at, length_bytes);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) fail("sendfile");
    length_bytes -= static_cast<uint32_t>(sent);
  }
}

// ---- relay ----

int listen_on_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(fd, kPeers) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail("cannot listen on loopback");
  }
  port = ntohs(address.sin_port);
  return fd;
}

// The relay's connections, indexed by client: each client's first byte says
// which one it is.
std::array<int, kPeers> accept_clients(int listen_fd) {
  std::array<int, kPeers> by_client{};
  for (size_t accepted = 0; accepted < kPeers; ++accepted) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) fail("accept");
    uint8_t client = 0;
    read_exactly(fd, &client, 1);
    if (client >= kPeers) throw std::runtime_error("bad client index");
    by_client[client] = fd;
  }
  return by_client;
}

// Relays one frame from `from`; false once `from` has closed.
bool relay_one_frame(int from, const std::array<int, kPeers>& to, std::vector<uint8_t>& payload) {
  FrameHeader header;
  ssize_t got = ::recv(from, &header, sizeof header, MSG_WAITALL);
  if (got == 0) return false;
  if (got != static_cast<ssize_t>(sizeof header)) fail("relay: short header");
  if (header.receiver >= kPeers || header.length_bytes > payload.size()) {
    throw std::runtime_error("relay: bad frame header");
  }
  read_exactly(from, payload.data(), header.length_bytes);
  write_all(to[header.receiver],
            {iovec{&header, sizeof header}, iovec{payload.data(), header.length_bytes}});
  return true;
}

void run_relay(int listen_fd, uint32_t chunk_bytes) {
  std::array<int, kPeers> clients = accept_clients(listen_fd);
  std::vector<uint8_t> payload(chunk_bytes);
  std::array<pollfd, kPeers> watched{};
  for (size_t peer = 0; peer < kPeers; ++peer) watched[peer] = pollfd{clients[peer], POLLIN, 0};
  for (size_t open = kPeers; open > 0;) {
    if (::poll(watched.data(), watched.size(), -1) < 0 && errno != EINTR) fail("poll");
    for (pollfd& source : watched) {
      if (source.fd < 0 || source.revents == 0) continue;
      if (relay_one_frame(source.fd, clients, payload)) continue;
      source.fd = -1;  // that sender is done
      --open;
    }
  }
  for (int fd : clients) ::shutdown(fd, SHUT_WR);  // tells every receiver it is over
}

// ---- clients ----

int connect_to_relay(uint16_t port, size_t self) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail("cannot connect to the relay");
  }
  auto index = static_cast<uint8_t>(self);
  write_all(fd, {iovec{&index, 1}, iovec{nullptr, 0}});
  return fd;
}

// Every chunk of the own file, in order, once to each other client.
void run_sender(int fd, size_t self, const Options& options) {
  std::string path = fmt::format("{}/{}.file", options.data_dir, letter(self));
  int file_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_fd < 0) fail("cannot open " + path);
  uint64_t size_bytes = file_bytes(path);
  for (uint64_t offset = 0; offset < size_bytes; offset += options.chunk_bytes) {
    auto length =
        static_cast<uint32_t>(std::min<uint64_t>(options.chunk_bytes, size_bytes - offset));
    for (size_t step = 1; step < kPeers; ++step) {
      FrameHeader header{static_cast<uint32_t>((self + step) % kPeers), static_cast<uint32_t>(self),
                         offset, length, 0};
      if (::send(fd, &header, sizeof header, MSG_MORE | MSG_NOSIGNAL) != sizeof header) {
        fail("send");
      }
      send_file_region(fd, file_fd, offset, length);
    }
  }
  ::close(file_fd);
  ::shutdown(fd, SHUT_WR);
}

struct Incoming {
  int fd = -1;
  chunkex::Sha256 hasher;
};

std::vector<Incoming> open_outputs(size_t self, const Options& options) {
  std::vector<Incoming> outputs(kPeers);
  for (size_t owner = 0; owner < kPeers; ++owner) {
    if (owner == self) continue;
    std::string path = fmt::format("{}/{}_{}.file", options.out_dir, letter(self), letter(owner));
    outputs[owner].fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (outputs[owner].fd < 0) fail("cannot create " + path);
  }
  return outputs;
}

void write_at(int fd, const uint8_t* data, size_t bytes, uint64_t offset) {
  while (bytes > 0) {
    ssize_t put = ::pwrite(fd, data, bytes, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail("pwrite");
    data += put;
    bytes -= static_cast<size_t>(put);
    offset += static_cast<uint64_t>(put);
  }
}

// Receives until the relay closes; prints each received file's digest.
void run_receiver(int fd, size_t self, const Options& options) {
  std::vector<Incoming> outputs = open_outputs(self, options);
  std::vector<uint8_t> payload(options.chunk_bytes);
  FrameHeader header;
  ssize_t got = 0;
  while ((got = ::recv(fd, &header, sizeof header, MSG_WAITALL)) ==
         static_cast<ssize_t>(sizeof header)) {
    if (header.owner >= kPeers || header.owner == self || header.length_bytes > payload.size()) {
      throw std::runtime_error("receiver: bad frame header");
    }
    read_exactly(fd, payload.data(), header.length_bytes);
    Incoming& file = outputs[header.owner];
    write_at(file.fd, payload.data(), header.length_bytes, header.offset);
    if (options.hash) file.hasher.update(chunkex::ByteView(payload.data(), header.length_bytes));
  }
  if (got < 0) fail("receiver: recv");
  if (got > 0) throw std::runtime_error("receiver: the stream ended inside a frame header");
  for (size_t owner = 0; owner < kPeers; ++owner) {
    if (owner == self) continue;
    ::close(outputs[owner].fd);
    std::string digest = options.hash ? chunkex::to_hex(outputs[owner].hasher.finish()) : "-";
    fmt::print("{} from {}: sha256 {}\n", letter(self), letter(owner), digest);
  }
}

// What a chunkex client does before it announces its file: the same
// describe_file() (common/io/file_chunk_store.h) reads it whole and hashes it.
void hash_own_file(size_t self, const Options& options) {
  std::string path = fmt::format("{}/{}.file", options.data_dir, letter(self));
  int file_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_fd < 0) fail("cannot open " + path);
  chunkex::FileAnnouncement own = chunkex::describe_file(file_fd, path);
  ::close(file_fd);
  fmt::print("{}: own sha256 {}\n", letter(self), chunkex::to_hex(own.sha256));
}

void run_client(uint16_t port, size_t self, const Options& options) {
  if (options.hash_own) hash_own_file(self, options);
  int fd = connect_to_relay(port, self);
  std::thread sender([&] { run_sender(fd, self, options); });
  run_receiver(fd, self, options);
  sender.join();
  ::close(fd);
}

// Runs `body`; an exception ends the whole process (a floor that failed
// midway measures nothing).
template <typename Body>
std::thread guarded(Body body) {
  return std::thread([body] {
    try {
      body();
    } catch (const std::exception& error) {
      fmt::print(stderr, "bare-relay: {}\n", error.what());
      std::_Exit(1);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"chunkex-bare-relay: the default exchange's bytes with no protocol (the floor)"};
  app.add_option("--data-dir", options.data_dir, "holds A.file .. D.file")->required();
  app.add_option("--out-dir", options.out_dir, "receivers write X_Y.file here")->required();
  app.add_option("--chunk-bytes", options.chunk_bytes, "bytes per frame")
      ->capture_default_str()
      ->check(CLI::Range(1u, kChunkBytesMax));
  bool no_hash = false;
  app.add_flag("--no-hash", no_hash, "receivers do not hash what they receive");
  app.add_flag("--hash-own", options.hash_own,
               "each client first hashes its own file (as a chunkex client before ANNOUNCE)");
  CLI11_PARSE(app, argc, argv);
  options.hash = !no_hash;
  std::filesystem::create_directories(options.out_dir);

  uint16_t port = 0;
  int listen_fd = listen_on_loopback(port);
  std::vector<std::thread> threads;
  threads.push_back(guarded([listen_fd, &options] { run_relay(listen_fd, options.chunk_bytes); }));
  for (size_t self = 0; self < kPeers; ++self) {
    threads.push_back(guarded([port, self, &options] { run_client(port, self, options); }));
  }
  for (std::thread& thread : threads) thread.join();
  ::close(listen_fd);
  return 0;
}
