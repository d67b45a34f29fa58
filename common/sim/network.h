// The simulator's in-memory link: one relay host and N peer hosts joined by
// connections that behave like TCP (in order, per direction) over a virtual
// clock. Each peer's link to the relay has a one-way latency and a rate cap
// per direction; frames that arrive at the same moment on different
// connections are delivered in an order drawn from the seed. Nothing here
// reads the wall clock or touches a socket. See docs/DESIGN.md §7-8.
//
// Chunks travel by reference (frame.h ChunkRef): a frame's size on the wire
// is counted and paced as if its bytes were there.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "common/host/peer_host.h"
#include "common/host/relay_host.h"
#include "common/random.h"
#include "common/sim/sim_store.h"
#include "common/time.h"

namespace chunkex::sim {

using TimeUs = int64_t;
inline constexpr TimeUs kNever = INT64_MAX;

struct LinkModel {
  TimeUs latency_us = 0;               // one way
  uint64_t bandwidth_bytes_per_s = 0;  // each direction; 0: unlimited
};

// What crossed the relay, for the summary.
struct TrafficStats {
  uint64_t frames_to_relay = 0;
  uint64_t frames_from_relay = 0;
  uint64_t bytes_to_relay = 0;  // wire bytes, headers included
  uint64_t bytes_from_relay = 0;
  // Chunk data the relay received (CHUNK_DATA, REFETCH_DATA), by the slot of
  // the peer it was meant for.
  std::vector<uint64_t> chunk_bytes_for_slot = std::vector<uint64_t>(kMaxPeers, 0);
};

class Network {
 public:
  // `order_seed` draws the order of simultaneous deliveries.
  explicit Network(uint64_t order_seed);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  RelayLink& relay_link();
  // The relay host that receives the relay link's events; nullptr: the
  // server is down (connections are refused).
  void set_relay(RelayHost* relay);
  // Adds peer `index` (its own file served from `store`); returns its link.
  // `chunks_inline`: its chunks carry their bytes instead of a reference.
  PeerLink& add_peer(SimChunkStore& store, LinkModel link, bool chunks_inline = false);
  // Tests: alter frames as they arrive (`peer`: the sending or receiving
  // peer's index).
  void set_tampering(std::function<void(size_t peer, Frame&)> to_relay,
                     std::function<void(size_t peer, Frame&)> to_peer);
  void set_peer(size_t index, PeerHost* host);

  // Faults. A crashed peer is gone with whatever it had in flight; the
  // relay sees its connection end. A cut loses everything in flight
  // both ways and both ends see the connection end. A crashed server drops
  // every connection.
  void crash_peer(size_t index);
  void cut_peer(size_t index);
  void crash_relay();

  // Runs `action` at `at_us` (a fault, a restart), in time order with
  // every delivery.
  void at(TimeUs at_us, std::function<void()> action);

  TimeUs now_us() const { return now_us_; }
  TimeMs now_ms() const { return now_us_ / 1000; }
  // Delivers the next event or fires the next host deadline; false when
  // nothing is left to happen.
  bool step();
  const TrafficStats& traffic() const { return traffic_; }

 private:
  class RelaySide;
  class PeerSide;
  struct Item;
  struct Direction;
  struct Connection;
  struct Scheduled {
    TimeUs at_us;
    uint64_t tie;
    uint64_t sequence;
    ConnId conn;
    bool to_relay;
    uint64_t generation;
    bool operator>(const Scheduled& other) const;
  };

  void transmit(Connection& connection, bool to_relay, Item item, uint64_t wire_bytes);
  TimeUs after_peer_sent_before(const Connection& connection, TimeUs arrival_us);
  void schedule_head(Connection& connection, bool to_relay);
  void deliver(const Scheduled& event);
  void deliver_to_relay(Connection& connection, Item item);
  void deliver_to_peer(Connection& connection, Item item);
  void end_connection_for_relay(Connection& connection);
  void drop_in_flight(Connection& connection);
  Connection* connection_of(ConnId conn);
  Connection* live_connection_of_peer(size_t index);
  void fire_deadlines(TimeMs now_ms);
  TimeUs next_deadline_us() const;
  void peer_connect(size_t index);
  void peer_abort_connect(size_t index);
  void peer_close(size_t index);
  void relay_sent(ConnId conn, Frame frame);
  void forget_relay_written(TimeUs until_us);

  Xoshiro256 order_random_;
  TimeUs now_us_ = 0;
  uint64_t sequence_ = 0;
  // By peer: the latest arrival at the relay of anything it sent, and on
  // which connection. One machine's packets to the relay keep their order
  // across its sockets (an old connection's FIN before a new one's SYN).
  std::map<size_t, std::pair<TimeUs, ConnId>> last_to_relay_;
  std::unique_ptr<RelaySide> relay_side_;
  RelayHost* relay_ = nullptr;
  std::vector<std::unique_ptr<PeerSide>> peer_sides_;
  std::vector<PeerHost*> peers_;
  std::map<ConnId, Connection> connections_;
  ConnId next_conn_ = 1;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> events_;
  std::multimap<TimeUs, uint64_t> relay_unwritten_;  // departure time -> bytes
  std::multimap<TimeUs, std::function<void()>> actions_;
  std::function<void(size_t, Frame&)> tamper_to_relay_;
  std::function<void(size_t, Frame&)> tamper_to_peer_;
  uint64_t relay_queued_bytes_ = 0;
  TrafficStats traffic_;
};

}  // namespace chunkex::sim
