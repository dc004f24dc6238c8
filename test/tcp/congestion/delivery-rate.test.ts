import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryRateEstimator } from '../../../src/tcp/congestion/delivery-rate.js';

const MSS = 1000;

test('a first ACK: the rate is what it delivered over the ACK interval, the RTT its send-to-ACK time', () => {
  const r = new DeliveryRateEstimator();
  for (let i = 0; i < 10; i++) r.onSend(i * MSS, MSS, 0, i === 0, false);
  const rs = r.onAck(10, MSS, MSS, undefined);
  assert.ok(rs);
  assert.equal(rs.delivered, MSS);
  assert.equal(rs.newlyDelivered, MSS);
  assert.equal(rs.interval, 10);
  assert.equal(rs.deliveryRate, 100);
  assert.equal(rs.rtt, 10);
  assert.equal(rs.isAppLimited, false);
  assert.equal(r.records, 9, 'the delivered transmission is forgotten');
});

test('an ACK that delivers nothing new gives no sample', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  assert.ok(r.onAck(5, MSS, MSS, undefined));
  assert.equal(r.onAck(6, MSS, MSS, undefined), undefined);
});

test('ACK compression: the longer send interval bounds the rate (draft §3.3)', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  r.onAck(10, MSS, MSS, undefined); // delivered 1000 at t=10; first_sent_time = 0
  for (let i = 0; i < 10; i++) r.onSend(MSS + i * MSS, MSS, 10 + i, false, false); // paced over 9 ms
  const rs = r.onAck(21, 11 * MSS, 11 * MSS, undefined); // all ten acknowledged at once
  assert.ok(rs);
  // send_elapsed = 19 - 0 (the last one's send time minus first_sent_time), ack_elapsed = 21 - 10.
  assert.equal(rs.interval, 19);
  assert.equal(rs.delivered, 10 * MSS);
  assert.ok(Math.abs(rs.deliveryRate - (10 * MSS) / 19) < 1e-9);
  assert.equal(rs.rtt, 2, 'RTT of the most recently sent delivered segment');
});

test('an interval below the minimum RTT gives no rate (invalid sample)', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  r.onAck(10, MSS, MSS, undefined);
  r.onSend(MSS, MSS, 10, true, false);
  r.onSend(2 * MSS, MSS, 10, false, false);
  const rs = r.onAck(15, 3 * MSS, 3 * MSS, undefined, 10); // interval 5 < the caller's min RTT 10
  assert.ok(rs);
  assert.equal(rs.interval, -1);
  assert.equal(rs.deliveryRate, 0);
});

test('application-limited: transmissions sent while limited are marked until that data is delivered', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  r.checkAppLimited(0, MSS, MSS, 10 * MSS); // nothing more to send, window not full
  assert.equal(r.appLimited, MSS, 'C.app_limited = delivered + pipe');
  r.onSend(MSS, MSS, 1, false, false); // the application wrote a little more
  let rs = r.onAck(10, MSS, MSS, undefined);
  assert.equal(rs!.isAppLimited, false, 'the first segment was sent before the mark');
  rs = r.onAck(11, 2 * MSS, 2 * MSS, undefined);
  assert.equal(rs!.isAppLimited, true);
  assert.equal(r.appLimited, 0, 'cleared once delivered passed the mark');
  // A full window or data waiting is not application-limited.
  r.checkAppLimited(5 * MSS, MSS, MSS, 10 * MSS);
  r.checkAppLimited(0, MSS, 10 * MSS, 10 * MSS);
  assert.equal(r.appLimited, 0);
});

test('SACK: a fully SACKed transmission above SND.UNA is delivered, a partly SACKed one is not', () => {
  const r = new DeliveryRateEstimator();
  for (let i = 0; i < 4; i++) r.onSend(i * MSS, MSS, i, i === 0, false);
  // Segment 0 lost; 1 SACKed fully, 2 half SACKed.
  const sacked = (s: number, e: number): boolean => s >= MSS && e <= 2 * MSS;
  const rs = r.onAck(12, 0, 1.5 * MSS, sacked);
  assert.ok(rs);
  assert.equal(rs.newlyDelivered, 1.5 * MSS);
  assert.equal(rs.rtt, 11, 'segment 1 (sent at 1) is the most recently sent delivered one');
  assert.equal(r.records, 3, 'segment 1 is done; 0, 2 and 3 remain (0 still at the head)');
});

test('retransmissions: a resent range gives no RTT, and is delivered wherever it sits in send order', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  r.onSend(MSS, MSS, 1, false, false);
  r.onSend(0, MSS, 50, false, true); // retransmission of the first segment
  const rs = r.onAck(60, MSS, MSS, undefined);
  assert.ok(rs);
  assert.equal(rs.rtt, -1, 'Karn: the most recent delivered transmission was a retransmission');
  assert.equal(r.records, 1, 'both transmissions of [0, 1000) are done');
  const rs2 = r.onAck(61, 2 * MSS, 2 * MSS, undefined);
  assert.equal(rs2!.rtt, 60);
  assert.equal(r.records, 0);
});

test('memory is bounded: the oldest transmission is forgotten', () => {
  const r = new DeliveryRateEstimator({ maxRecords: 4 });
  for (let i = 0; i < 6; i++) r.onSend(i * MSS, MSS, i, i === 0, false);
  assert.equal(r.records, 4);
  const rs = r.onAck(20, 6 * MSS, 6 * MSS, undefined);
  assert.equal(rs!.rtt, 15);
  assert.equal(r.records, 0);
  assert.throws(() => new DeliveryRateEstimator({ maxRecords: 0 }), RangeError);
});

test('a burst acknowledged in part: each ACK that moves SND.UNA into it gives a sample from its snapshot (as Linux on a TSO skb)', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, 4 * MSS, 0, true, false); // one TSO burst of four segments
  r.onSend(4 * MSS, 4 * MSS, 1, false, false);
  const first = r.onAck(20, 2 * MSS, 2 * MSS, undefined);
  assert.ok(first && first.deliveryRate > 0, 'half of the first burst: a valid sample');
  assert.equal(first.delivered, 2 * MSS);
  assert.equal(first.priorDelivered, 0);
  assert.equal(first.rtt, 20);
  assert.equal(r.records, 2, 'the burst stays for the rest');
  const second = r.onAck(21, 4 * MSS, 4 * MSS, undefined);
  assert.ok(second && second.deliveryRate > 0);
  assert.equal(second.delivered, 4 * MSS, 'from the same snapshot');
  assert.equal(r.records, 1);
  const third = r.onAck(30, 6 * MSS, 6 * MSS, undefined);
  assert.ok(third && third.deliveryRate > 0, 'into the second burst');
  assert.equal(third.priorDelivered, 0, 'the second burst was sent before anything was delivered');
});

test('an ACK that yields no sample has priorDelivered 0, so it starts no BBR round', () => {
  const r = new DeliveryRateEstimator();
  r.onSend(0, MSS, 0, true, false);
  r.onSend(MSS, 4 * MSS, 1, false, false);
  assert.ok(r.onAck(10, MSS, MSS, undefined));
  // SACK of one segment inside the burst: delivered, but no transmission is fully delivered.
  const rs = r.onAck(11, MSS, 2 * MSS, (s, e) => s === 2 * MSS && e === 3 * MSS);
  assert.ok(rs);
  assert.equal(rs.newlyDelivered, MSS);
  assert.equal(rs.deliveryRate, 0);
  assert.equal(rs.interval, -1);
  assert.equal(rs.priorDelivered, 0);
});
