// Unit tests for icmp.h: echo build/parse, AnswerIcmp on built and real Linux pings, drops.
#include "dataplane/net/icmp.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "dataplane/net/checksum.h"
#include "dataplane/net/test_frames.h"
#include "dataplane/net/wire.h"
#include "gtest/gtest.h"

namespace ix::net {
namespace {

using testing::Hex;
using testing::kIpA;
using testing::kIpB;
using testing::kMacA;
using testing::kMacB;

// The request as ParseEthernet + ParseIpv4 see it.
struct Request {
  std::vector<uint8_t> frame;
  EthernetFrame eth;
  Ipv4Packet ip;
};

Request Received(std::vector<uint8_t> frame) {
  Request r;
  r.frame = std::move(frame);
  if (ParseEthernet(r.frame, &r.eth) != Drop::kNone) abort();
  if (ParseIpv4(r.eth.payload, &r.ip) != Drop::kNone) abort();
  return r;
}

TEST(IcmpTest, BuildThenParse) {
  const uint8_t data[5] = {1, 2, 3, 4, 5};  // odd length
  std::vector<uint8_t> m(kIcmpHeaderLen + 5);
  ASSERT_EQ(BuildIcmpEcho(absl::MakeSpan(m), kIcmpEchoRequest, 0x4242, 9, data), 13u);
  EXPECT_EQ(InternetChecksum(m), 0);
  IcmpMessage msg;
  ASSERT_EQ(ParseIcmp(m, &msg), Drop::kNone);
  EXPECT_EQ(msg.type, kIcmpEchoRequest);
  EXPECT_EQ(msg.code, 0);
  EXPECT_EQ(msg.id, 0x4242);
  EXPECT_EQ(msg.sequence, 9);
  EXPECT_EQ(std::vector<uint8_t>(msg.data.begin(), msg.data.end()),
            std::vector<uint8_t>(data, data + 5));
  std::vector<uint8_t> small(12);
  EXPECT_EQ(BuildIcmpEcho(absl::MakeSpan(small), kIcmpEchoRequest, 1, 1, data), 0u);
}

TEST(IcmpTest, TruncatedAtEveryLength) {
  std::vector<uint8_t> m(kIcmpHeaderLen);
  ASSERT_EQ(BuildIcmpEcho(absl::MakeSpan(m), kIcmpEchoRequest, 1, 2, {}), 8u);
  IcmpMessage msg;
  ASSERT_EQ(ParseIcmp(m, &msg), Drop::kNone);
  for (size_t n = 0; n < 8; ++n) {
    const std::vector<uint8_t> cut(m.begin(), m.begin() + n);
    EXPECT_EQ(ParseIcmp(cut, &msg), Drop::kIcmpTruncated) << n;
  }
}

TEST(IcmpTest, BadChecksum) {
  const uint8_t data[3] = {7, 8, 9};
  std::vector<uint8_t> m(11);
  ASSERT_EQ(BuildIcmpEcho(absl::MakeSpan(m), kIcmpEchoRequest, 1, 2, data), 11u);
  for (size_t i = 0; i < m.size(); ++i) {
    std::vector<uint8_t> bad = m;
    bad[i] ^= 0x80;
    IcmpMessage msg;
    EXPECT_EQ(ParseIcmp(bad, &msg), Drop::kIcmpBadChecksum) << i;
  }
}

// Checks that `reply` (a frame) answers `req`, from us (kMacA, kIpA).
void ExpectReplyTo(const Request& req, absl::Span<const uint8_t> reply) {
  EthernetFrame eth;
  ASSERT_EQ(ParseEthernet(reply, &eth), Drop::kNone);
  EXPECT_EQ(eth.dst, req.eth.src);
  EXPECT_EQ(eth.src, kMacA);
  EXPECT_EQ(eth.ethertype, kEtherTypeIpv4);
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(eth.payload, &ip), Drop::kNone);
  EXPECT_EQ(ip.src, kIpA);
  EXPECT_EQ(ip.dst, req.ip.src);
  EXPECT_EQ(ip.protocol, kIpProtoIcmp);
  EXPECT_EQ(ip.ttl, kIpv4DefaultTtl);
  EXPECT_TRUE(ip.dont_fragment);
  EXPECT_EQ(ip.tos, req.ip.tos);
  IcmpMessage in, out;
  ASSERT_EQ(ParseIcmp(req.ip.payload, &in), Drop::kNone);
  ASSERT_EQ(ParseIcmp(ip.payload, &out), Drop::kNone);
  EXPECT_EQ(out.type, kIcmpEchoReply);
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(out.id, in.id);
  EXPECT_EQ(out.sequence, in.sequence);
  EXPECT_EQ(std::vector<uint8_t>(out.data.begin(), out.data.end()),
            std::vector<uint8_t>(in.data.begin(), in.data.end()));
}

TEST(IcmpTest, AnswersBuiltEchoRequest) {
  const uint8_t data[4] = {0xde, 0xad, 0xbe, 0xef};
  const Request req = Received(testing::MakeEchoFrame(data, 0x77, 3));
  std::vector<uint8_t> out(kEthHeaderLen + kIpv4HeaderLen + kIcmpHeaderLen + 4);  // exact size
  Ipv4IdCounter ids(100);
  size_t len = 0;
  ASSERT_EQ(AnswerIcmp(req.ip, req.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kNone);
  EXPECT_EQ(len, out.size());
  ExpectReplyTo(req, out);
  Ipv4Packet ip;
  ASSERT_EQ(ParseIpv4(absl::MakeConstSpan(out).subspan(kEthHeaderLen), &ip), Drop::kNone);
  EXPECT_EQ(ip.id, 100);
  EXPECT_EQ(ids.Next(), 101);
}

TEST(IcmpTest, AnswersRealLinuxPing) {
  // `ping -c 1 10.200.0.1` from Linux 6.x (iputils, 56 data bytes), captured on veth, and the
  // reply Linux itself sent back.
  const std::vector<uint8_t> request = Hex(
      "2a154bb18ca0e2514c3c2b2d0800450000549be940004001892d0ac800020ac800010800ec5e197c00010e5a07"
      "6b00000000148c090000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e"
      "2f3031323334353637");
  const std::vector<uint8_t> linux_reply = Hex(
      "e2514c3c2b2d2a154bb18ca008004500005497f500004001cd210ac800010ac800020000f45e197c00010e5a07"
      "6b00000000148c090000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e"
      "2f3031323334353637");
  const Request req = Received(request);
  EXPECT_EQ(req.ip.ttl, 64);
  EXPECT_EQ(req.ip.id, 0x9be9);
  const MacAddress our_mac{{0x2a, 0x15, 0x4b, 0xb1, 0x8c, 0xa0}};
  const Ipv4Address our_ip = 0x0ac80001;
  std::vector<uint8_t> out(1514);
  Ipv4IdCounter ids;
  size_t len = 0;
  ASSERT_EQ(AnswerIcmp(req.ip, req.eth.src, our_mac, our_ip, &ids, absl::MakeSpan(out), &len),
            Drop::kNone);
  ASSERT_EQ(len, linux_reply.size());
  // Ethernet header and the whole ICMP message are byte-identical to Linux's reply; the IPv4
  // header differs only in id, flags (we set DF, Linux did not here) and so the checksum.
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + 14),
            std::vector<uint8_t>(linux_reply.begin(), linux_reply.begin() + 14));
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + 34, out.begin() + len),
            std::vector<uint8_t>(linux_reply.begin() + 34, linux_reply.end()));
  for (size_t i = 14; i < 34; ++i) {
    if (i == 18 || i == 19 || i == 20 || i == 24 || i == 25) continue;  // id, flags, checksum
    EXPECT_EQ(out[i], linux_reply[i]) << "IPv4 header byte " << (i - 14);
  }
}

TEST(IcmpTest, OtherTypesAreIgnored) {
  // Linux's port unreachable (type 3 code 3) quoting a UDP datagram, captured on veth.
  const Request unreachable = Received(Hex(
      "e2514c3c2b2d2a154bb18ca0080045c00041980200004001cc670ac800010ac80002030312b20000000045000025"
      "acd04000401178650ac800020ac800019c40270f00116f7f68656c6c6f2069780a"));
  IcmpMessage msg;
  ASSERT_EQ(ParseIcmp(unreachable.ip.payload, &msg), Drop::kNone);
  EXPECT_EQ(msg.type, kIcmpDestUnreachable);
  EXPECT_EQ(msg.code, 3);
  std::vector<uint8_t> out(1514, 0x5a);
  Ipv4IdCounter ids;
  size_t len = 0;
  NetCounters counters;
  for (const Request& r : {unreachable, Received(testing::MakeEchoFrame({}, 1, 1, kIcmpEchoReply)),
                           Received(testing::MakeEchoFrame({}, 1, 1, kIcmpTimeExceeded))}) {
    const Drop d = AnswerIcmp(r.ip, r.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len);
    EXPECT_EQ(d, Drop::kIcmpOtherType);
    CountDrop(&counters, d);
  }
  EXPECT_EQ(counters.icmp_other_type, 3u);
  EXPECT_EQ(len, 0u);
  EXPECT_EQ(ids.Next(), 0);  // no id was used
}

TEST(IcmpTest, DropsBadRequests) {
  Ipv4IdCounter ids;
  size_t len = 0;
  std::vector<uint8_t> out(1514);
  // Bad checksum.
  std::vector<uint8_t> f = testing::MakeEchoFrame(testing::Hex("0102"));
  f.back() ^= 1;
  Request r = Received(f);
  EXPECT_EQ(AnswerIcmp(r.ip, r.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kIcmpBadChecksum);
  // Truncated: an IPv4 packet with 4 bytes of ICMP.
  r = Received(testing::MakeIpv4Frame(kMacB, kMacA, kIpB, kIpA, kIpProtoIcmp, Hex("08000000")));
  EXPECT_EQ(AnswerIcmp(r.ip, r.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kIcmpTruncated);
  // Broadcast ping: not answered.
  std::vector<uint8_t> icmp(8);
  ASSERT_EQ(BuildIcmpEcho(absl::MakeSpan(icmp), kIcmpEchoRequest, 1, 1, {}), 8u);
  r = Received(testing::MakeIpv4Frame(kMacB, MacAddress::Broadcast(), kIpB, kIpv4Broadcast,
                                      kIpProtoIcmp, icmp));
  EXPECT_EQ(AnswerIcmp(r.ip, r.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kIcmpNotUnicast);
  EXPECT_EQ(len, 0u);
}

TEST(IcmpTest, NoRoomForReply) {
  const uint8_t data[10] = {};
  const Request req = Received(testing::MakeEchoFrame(data));
  const size_t need = kEthHeaderLen + kIpv4HeaderLen + kIcmpHeaderLen + 10;
  Ipv4IdCounter ids;
  size_t len = 0;
  for (size_t n : {size_t{0}, size_t{14}, need - 1}) {
    std::vector<uint8_t> out(n);
    EXPECT_EQ(AnswerIcmp(req.ip, req.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
              Drop::kIcmpNoRoom);
  }
  std::vector<uint8_t> out(need);
  EXPECT_EQ(AnswerIcmp(req.ip, req.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kNone);
  EXPECT_EQ(len, need);
}

TEST(IcmpTest, RequestWithIpOptionsGetsPlainReply) {
  std::vector<uint8_t> icmp(8 + 2);
  const uint8_t data[2] = {0xaa, 0xbb};
  ASSERT_EQ(BuildIcmpEcho(absl::MakeSpan(icmp), kIcmpEchoRequest, 5, 6, data), 10u);
  // IHL 6 with one 4-byte option (NOP NOP NOP EOL).
  std::vector<uint8_t> f =
      Hex("02000000000a 02000000000b 0800 4600 0022 0001 4000 4001 0000"
          "0a000002 0a000001 01010100");
  f.insert(f.end(), icmp.begin(), icmp.end());
  testing::RefreshIpv4Checksum(absl::MakeSpan(f).subspan(kEthHeaderLen));
  const Request req = Received(f);
  ASSERT_EQ(req.ip.header_len, 24u);
  std::vector<uint8_t> out(100);
  Ipv4IdCounter ids;
  size_t len = 0;
  ASSERT_EQ(AnswerIcmp(req.ip, req.eth.src, kMacA, kIpA, &ids, absl::MakeSpan(out), &len),
            Drop::kNone);
  EXPECT_EQ(len, 14u + 20u + 10u);
  ExpectReplyTo(req, absl::MakeConstSpan(out).first(len));
}

// --- ICMP errors ---------------------------------------------------------------------------

// An IPv4 packet from kIpA to kIpB carrying `proto` and `payload` (header built, checksum right).
std::vector<uint8_t> Packet(uint8_t proto, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p(kIpv4HeaderLen + payload.size());
  Ipv4Header h;
  h.src = kIpA;
  h.dst = kIpB;
  h.protocol = proto;
  EXPECT_EQ(BuildIpv4Header(absl::MakeSpan(p), h, payload.size()), kIpv4HeaderLen);
  std::copy(payload.begin(), payload.end(), p.begin() + kIpv4HeaderLen);
  return p;
}

TEST(IcmpErrorTest, BuildThenParseQuotesHeaderAndPayload) {
  std::vector<uint8_t> tcp(20 + 10);
  for (size_t i = 0; i < tcp.size(); ++i) tcp[i] = static_cast<uint8_t>(i + 1);
  const std::vector<uint8_t> pkt = Packet(kIpProtoTcp, tcp);
  const auto hdr = absl::MakeConstSpan(pkt).first(20);
  const auto body = absl::MakeConstSpan(pkt).subspan(20);
  std::vector<uint8_t> m(600, 0xee);
  const size_t n = BuildIcmpError(absl::MakeSpan(m), kIcmpDestUnreachable, kIcmpCodeFragNeeded,
                                  1400, hdr, body);
  ASSERT_EQ(n, 8 + pkt.size());
  EXPECT_EQ(InternetChecksum(absl::MakeConstSpan(m).first(n)), 0);
  EXPECT_EQ(std::vector<uint8_t>(m.begin() + 8, m.begin() + n), pkt);
  IcmpMessage msg;
  ASSERT_EQ(ParseIcmp(absl::MakeConstSpan(m).first(n), &msg), Drop::kNone);
  IcmpErrorQuote q;
  ASSERT_EQ(ParseIcmpError(msg, &q), Drop::kNone);
  EXPECT_EQ(q.type, kIcmpDestUnreachable);
  EXPECT_EQ(q.code, kIcmpCodeFragNeeded);
  EXPECT_EQ(q.next_hop_mtu, 1400);
  EXPECT_EQ(q.src, kIpA);
  EXPECT_EQ(q.dst, kIpB);
  EXPECT_EQ(q.protocol, kIpProtoTcp);
  EXPECT_EQ(q.total_len, pkt.size());
  EXPECT_EQ(std::vector<uint8_t>(q.transport8.begin(), q.transport8.end()),
            std::vector<uint8_t>(tcp.begin(), tcp.begin() + 8));
  // Too small an output: nothing. A header shorter than 20 bytes: nothing.
  EXPECT_EQ(BuildIcmpError(absl::MakeSpan(m).first(n - 1), 3, 3, 0, hdr, body), 0u);
  EXPECT_EQ(BuildIcmpError(absl::MakeSpan(m), 3, 3, 0, hdr.first(19), body), 0u);
}

TEST(IcmpErrorTest, QuoteIsCutAt576BytesOfIp) {
  const std::vector<uint8_t> pkt = Packet(kIpProtoUdp, std::vector<uint8_t>(1400, 0x42));
  std::vector<uint8_t> m(2000);
  const size_t n = BuildIcmpError(absl::MakeSpan(m), 3, 3, 0, absl::MakeConstSpan(pkt).first(20),
                                  absl::MakeConstSpan(pkt).subspan(20));
  EXPECT_EQ(n, kIcmpHeaderLen + kIcmpErrorMaxQuote);
  EXPECT_EQ(kIpv4HeaderLen + n, 576u);
  EXPECT_EQ(InternetChecksum(absl::MakeConstSpan(m).first(n)), 0);
}

TEST(IcmpErrorTest, ParsesLinuxPortUnreachable) {
  // Linux's port unreachable quoting a UDP datagram 10.200.0.2:40000 -> 10.200.0.1:9999.
  const Request r = Received(Hex(
      "e2514c3c2b2d2a154bb18ca0080045c00041980200004001cc670ac800010ac80002030312b20000000045000025"
      "acd04000401178650ac800020ac800019c40270f00116f7f68656c6c6f2069780a"));
  IcmpMessage msg;
  ASSERT_EQ(ParseIcmp(r.ip.payload, &msg), Drop::kNone);
  IcmpErrorQuote q;
  ASSERT_EQ(ParseIcmpError(msg, &q), Drop::kNone);
  EXPECT_EQ(q.code, kIcmpCodePortUnreachable);
  EXPECT_EQ(q.src, 0x0ac80002u);
  EXPECT_EQ(q.dst, 0x0ac80001u);
  EXPECT_EQ(q.protocol, kIpProtoUdp);
  EXPECT_EQ(LoadBe16(q.transport8.data()), 40000);
  EXPECT_EQ(LoadBe16(q.transport8.data() + 2), 9999);
  // Rebuilt from the quoted datagram, our message is byte-identical to Linux's.
  std::vector<uint8_t> m(200);
  const size_t n = BuildIcmpError(absl::MakeSpan(m), 3, 3, 0, msg.data.first(20),
                                  msg.data.subspan(20));
  EXPECT_EQ(std::vector<uint8_t>(m.begin(), m.begin() + n),
            std::vector<uint8_t>(msg.message.begin(), msg.message.end()));
}

TEST(IcmpErrorTest, MalformedQuotesAreDropped) {
  const std::vector<uint8_t> pkt = Packet(kIpProtoTcp, std::vector<uint8_t>(20, 7));
  const auto parse = [](std::vector<uint8_t> quote, uint8_t type = 3) {
    std::vector<uint8_t> m(8 + quote.size());
    m[0] = type;
    std::copy(quote.begin(), quote.end(), m.begin() + 8);
    const uint16_t c = InternetChecksum(m);
    std::memcpy(m.data() + 2, &c, 2);
    IcmpMessage msg;
    EXPECT_EQ(ParseIcmp(m, &msg), Drop::kNone);
    IcmpErrorQuote q;
    return ParseIcmpError(msg, &q);
  };
  EXPECT_EQ(parse(pkt), Drop::kNone);
  EXPECT_EQ(parse(pkt, kIcmpTimeExceeded), Drop::kNone);
  EXPECT_EQ(parse(pkt, 5), Drop::kIcmpOtherType);  // redirect
  for (size_t len = 0; len < 28; ++len) {  // truncated: header + 8 bytes needed
    EXPECT_EQ(parse(std::vector<uint8_t>(pkt.begin(), pkt.begin() + len)), Drop::kIcmpBadQuote)
        << len;
  }
  std::vector<uint8_t> bad = pkt;
  bad[0] = 0x65;  // version 6
  EXPECT_EQ(parse(bad), Drop::kIcmpBadQuote);
  bad = pkt;
  bad[0] = 0x44;  // IHL 4
  EXPECT_EQ(parse(bad), Drop::kIcmpBadQuote);
  bad = pkt;
  bad[0] = 0x4f;  // IHL 15: 60 bytes, beyond the 40-byte quote
  EXPECT_EQ(parse(bad), Drop::kIcmpBadQuote);
  bad = pkt;
  StoreBe16(bad.data() + 2, 27);  // total length shorter than header + 8
  EXPECT_EQ(parse(bad), Drop::kIcmpBadQuote);
  EXPECT_TRUE(IsIcmpErrorType(3) && IsIcmpErrorType(11) && IsIcmpErrorType(12));
  EXPECT_FALSE(IsIcmpErrorType(0) || IsIcmpErrorType(8));
}

}  // namespace
}  // namespace ix::net
