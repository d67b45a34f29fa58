// One TCP connection carrying chunkex frames, shared by the server and the
// client transports (after Asio's chat example): a read loop that feeds a
// FrameDecoder, and a write queue with exactly one gather write in flight.
// It knows nothing of the protocol; it hands frames and failures to callbacks.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/frame.h"

namespace chunkex {

class FrameConnection : public std::enable_shared_from_this<FrameConnection> {
 public:
  struct Callbacks {
    std::function<void(Frame)> on_frame;
    // The stream was not valid chunkex framing; the connection is closed.
    std::function<void(const std::string&)> on_stream_error;
    // A write finished (optional): output queued before it is gone.
    std::function<void()> on_written;
    // The peer closed the connection or it failed (called once, last).
    std::function<void(const std::string&)> on_closed;
  };

  // A write that makes no progress for `stall_timeout` closes the connection
  // (the other side stopped reading).
  FrameConnection(asio::ip::tcp::socket socket, uint32_t chunk_bytes_max,
                  std::chrono::seconds stall_timeout);

  void start(Callbacks callbacks);
  void send(Frame frame);
  // Sends a frame whose payload is `prefix` followed by `length` bytes of the
  // file `fd` from `offset`, handed to the socket with sendfile(2): the bytes
  // never pass through user space. `fd` must stay open until the frame is out.
  void send_with_file_data(FrameType type, Bytes prefix, int fd, uint64_t offset, uint32_t length);
  // Closes once every queued frame is written.
  void close_after_flush();
  void close_now();
  void set_chunk_bytes_max(uint32_t chunk_bytes_max) {
    decoder_.set_chunk_bytes_max(chunk_bytes_max);
  }

  // Payload bytes queued and not yet written (file data not counted: it is
  // read from disk only as the socket takes it).
  uint64_t queued_bytes() const { return queued_bytes_; }
  std::chrono::steady_clock::time_point last_read_at() const { return last_read_at_; }
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct FileRegion {
    int fd = -1;
    uint64_t offset = 0;
    uint32_t length = 0;  // bytes still to send
  };

  struct Outgoing {
    std::array<uint8_t, kFrameHeaderBytes> header;
    Frame frame;
    FileRegion file_data;  // follows frame.payload on the wire
  };

  void do_read();
  void on_read(const asio::error_code& ec, size_t bytes, size_t direct_bytes);
  void deliver(size_t bytes, size_t direct_bytes);
  void enqueue(Outgoing outgoing);
  void schedule_write();
  void do_write();
  void write_before_file_data(std::vector<asio::const_buffer> buffers);
  void on_buffers_written(const asio::error_code& ec, size_t bytes);
  void send_file_data();
  void pop_written(std::deque<Outgoing>& queue);
  void half_close();
  void watch_for_stall();
  void finish(const std::string& why);

  asio::ip::tcp::socket socket_;
  asio::steady_timer linger_timer_;
  asio::steady_timer stall_timer_;
  std::chrono::seconds stall_timeout_;
  std::chrono::steady_clock::time_point last_read_at_ = std::chrono::steady_clock::now();
  FrameDecoder decoder_;
  Callbacks callbacks_;
  std::vector<uint8_t> read_buffer_;
  bool write_in_flight() const { return control_in_flight_ + chunk_in_flight_ > 0; }

  // Deques: a queued frame's header stays put while a write points at it.
  std::deque<Outgoing> control_queue_;
  std::deque<Outgoing> chunk_queue_;
  size_t control_in_flight_ = 0;  // fronts of the queues in the current write
  size_t chunk_in_flight_ = 0;
  uint64_t queued_bytes_ = 0;
  bool write_scheduled_ = false;  // a do_write() is posted
  bool closing_ = false;
  bool closed_ = false;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace chunkex
