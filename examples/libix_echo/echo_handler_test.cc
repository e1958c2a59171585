// EchoHandler and UdpEchoReply: byte echo under any segmentation, sockperf's framing (replies
// only where asked, client flag cleared), falling back to echo on anything else.
#include "examples/libix_echo/echo_handler.h"

#include <string>

#include "gtest/gtest.h"

namespace ix::apps {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// A sockperf message: seq, flags, total length, then payload.
std::string Message(uint64_t seq, uint16_t flags, size_t total) {
  std::string m(total, 'p');
  for (int i = 0; i < 8; ++i) m[i] = static_cast<char>(seq >> (56 - 8 * i));
  m[8] = static_cast<char>(flags >> 8);
  m[9] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) m[10 + i] = static_cast<char>(total >> (24 - 8 * i));
  return m;
}

std::string Reply(std::string m) {
  m[9] = static_cast<char>(m[9] & ~1);
  return m;
}

// Feeds `stream` in pieces of `step` bytes; returns everything the handler answered.
std::string Feed(EchoHandler* h, const std::string& stream, size_t step) {
  std::string out;
  for (size_t at = 0; at < stream.size(); at += step) {
    const std::string piece = stream.substr(at, step);
    const StreamHandler::Result r = h->OnData(Bytes(piece), &out);
    EXPECT_EQ(r.consumed, piece.size());
    EXPECT_FALSE(r.close || r.again);
  }
  return out;
}

TEST(EchoHandlerTest, EchoesAnyBytesWithAnySegmentation) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data.push_back(static_cast<char>(i * 7));
  for (size_t step : {1u, 3u, 13u, 14u, 15u, 4096u}) {
    EchoHandler h;
    EXPECT_EQ(Feed(&h, data, step), data) << step;
  }
  EchoHandler text;
  EXPECT_EQ(Feed(&text, "hello\n", 2), "hello\n");
}

TEST(EchoHandlerTest, SockperfPingPongAnswersOnlyWhatAsksForAReply) {
  // Ping-pong: every message asks for a reply (flags 3); under-load mixes in flags 1.
  const std::string m1 = Message(0, 3, 64), m2 = Message(1, 1, 64), m3 = Message(2, 3, 300);
  const std::string stream = m1 + m2 + m3 + Message(3, 3, 14);
  for (size_t step : {1u, 5u, 14u, 64u, 1000u}) {
    EchoCounters counters;
    EchoHandler h(&counters);
    EXPECT_EQ(Feed(&h, stream, step), Reply(m1) + Reply(m3) + Reply(Message(3, 3, 14))) << step;
    EXPECT_EQ(counters.sockperf_replies, 3u);
  }
}

TEST(EchoHandlerTest, NotSockperfAfterAFewBytesIsEchoedFromTheStart) {
  std::string almost = Message(0, 3, 64);
  almost[5] = 'x';  // a sequence number no first message has
  EchoHandler h;
  EXPECT_EQ(Feed(&h, almost, 1), almost);
  EchoHandler bad_len;
  std::string short_len = Message(0, 3, 20);
  short_len[13] = 10;  // a length shorter than the header itself
  EXPECT_EQ(Feed(&bad_len, short_len, 4), short_len);
}

TEST(EchoHandlerTest, LostFramingFallsBackToEcho) {
  const std::string m1 = Message(0, 3, 20);
  const std::string junk = "this is no header at all";
  EchoHandler h;
  EXPECT_EQ(Feed(&h, m1 + junk, 7), Reply(m1) + junk);
}

TEST(EchoHandlerTest, PrefixMatch) {
  const std::string m = Message(0, 3, 64);
  EXPECT_EQ(SockperfPrefixMatch(Bytes(m)), kSockperfHeaderBytes);
  EXPECT_EQ(SockperfPrefixMatch(Bytes(m.substr(0, 9))), 9u);
  EXPECT_EQ(SockperfPrefixMatch(Bytes(std::string("GET / HTTP/1.1"))), 0u);
  EXPECT_EQ(SockperfPrefixMatch(Bytes(Message(0, 2, 64))), 9u);  // no client flag
}

TEST(UdpEchoReplyTest, PlainSockperfAndSilent) {
  std::string reply;
  EXPECT_TRUE(UdpEchoReply(Bytes(std::string("ping")), &reply));
  EXPECT_EQ(reply, "ping");
  const std::string pp = Message(9, 3, 64);
  EXPECT_TRUE(UdpEchoReply(Bytes(pp), &reply));
  EXPECT_EQ(reply, Reply(pp));
  EXPECT_FALSE(UdpEchoReply(Bytes(Message(9, 1, 64)), &reply));  // throughput: no answer
  const std::string wrong_len = Message(9, 3, 64).substr(0, 40);   // length field disagrees
  EXPECT_TRUE(UdpEchoReply(Bytes(wrong_len), &reply));
  EXPECT_EQ(reply, wrong_len);
}

}  // namespace
}  // namespace ix::apps
