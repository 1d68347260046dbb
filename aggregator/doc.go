// Package aggregator accumulates metrics between flushes and turns them into
// graphite lines. It is pure: it is handed datagrams (or lines) and, at each
// flush, an emitter for the lines it produces. Sockets, flush tickers
// (wall-clock alignment), where the lines go (pools, sinks), limits on keys
// and Prometheus metrics belong to its callers.
//
// # statsd
//
// Statsd is Etsy statsd 0.9.0's accumulator and graphite backend, byte for
// byte: Datagram takes one datagram as stats.js's handlePacket does, Flush
// emits what backends/graphite.js would send ("key value timestamp", values
// as JavaScript prints numbers, see AppendJSNumber), in both namespaces,
// with statsd's own metrics (statsd.bad_lines_seen, packets_received,
// metrics_received, numStats, timestamp_lag, processing_time and
// graphiteStats.*), and then resets or deletes as statsd does. It is
// configured by StatsdConfig (statsd's keys in snake_case).
// RunOracleFormat runs it over the input format of the statsd oracle
// (../shared/oracles/statsd) and prints that oracle's output format; the
// goldens in testdata/statsd were made by the real daemon (gen.sh there).
//
// Etsy's quirks are kept, because identical dashboards are the point:
//   - "@0" is a sample rate of 0: the counter becomes Infinity, a timer's
//     count Infinity.
//   - The rate is read by /^@([\d.]+)/: "@1e-1" is rate 1, "@5e-1" rate 5,
//     "@0x10" rate 0, "@1 " rate 1 (the whole is validated by Number()
//     first, which ignores the blank).
//   - Values are read by JavaScript's Number(): " 5", "0x10", "0b101",
//     "1e400" (Infinity), "Infinity" and " |c" (0) are numbers; "-0x10" is not.
//   - Any type other than ms, g, s is a counter ("1|zz", "1|C", "1|");
//     the type is validated raw but dispatched trimmed, so "-5|ms " is a
//     timer sample of -5 and "x| s" is refused (not a number).
//   - A counter that became NaN (Infinity + -Infinity) restarts from 0 at
//     its next sample (statsd's "if (!counters[key])").
//   - A gauge delta ("+N", "-N") applies only to an existing non-zero gauge;
//     on a zero, NaN or missing gauge it is an absolute value.
//   - Set members are raw strings ("1", "1.0" and "01" differ; "" is "0";
//     "__proto__" is no member); invalid UTF-8 is compared after decoding,
//     one U+FFFD per maximal invalid subpart, as Node does.
//   - Percentile P > 100 omits upper_P, sum_P and sum_squares_P and sends
//     mean_P NaN; P <= -100 sends sum_topN, sum_squares_topN and mean_topN
//     as NaN (cumulativeValues[-1]); P = 0 is omitted, except with one
//     sample, where every P is sent and P = 0 is named lower_0.
//   - The internal counters are ordinary counters: a user line
//     "statsd.bad_lines_seen:5|c" adds to them, and delete_counters keeps
//     (at 0) any counter whose key contains bad_lines_seen, packets_received
//     or metrics_received.
//   - A key that sanitises to nothing is sent as "stats." etc.
//
// Where Etsy statsd crashes (a rate that passes its check but not its
// regexp: "@ 0.5", "@Infinity", "@+1"), the sample counts in bad_lines_seen
// instead. Not reproduced: keys named after Object.prototype members
// ("constructor", "toString", "__proto__", ...), for which statsd drops the
// sample, sends a garbled value or crashes: here they are ordinary keys.
// graphiteStats.* and processing_time carry our own timings, and last_flush
// the previous flush's time (the first flush's own time at the first).
// keyNameSanitize=false, keyFlush and the pickle protocol are not offered.
//
// # graphite
//
// Graphite accumulates graphite plaintext lines ("path value timestamp",
// parsed by proxy/line.ParseGraphite) into time bins per path, one series
// per resolution of GraphiteConfig.Times ("10s:168h", ...): a bin starts at
// ts - ts mod r and keeps count, sum, min, max and the last value to
// arrive; coarser resolutions hold the merge of the finer bins (their mean
// is Σsum/Σcount, never a mean of means; Bin.Merge). Flush hands each bin
// whose end (plus flush_delay) has passed and that got points since it was
// last emitted to an emitter as a Bin; a late point for a bin still held
// re-emits it with all its values, and a bin is held until its end is
// older than its retention. Bin.AppendLine renders "path value start" with
// the bin's reducer, chosen by name (ReducerFor: .count, .sum and
// stats_counts. sum, .min and .lower take the minimum, .max and .upper the
// maximum, anything else the mean). Distinct paths are bounded by max_keys.
//
// Rules (ParseRules) are graphite-carbon 1.1.7's carbon-aggregator
// aggregation-rules.conf: which rules match a path and the aggregate path
// they build are carbon's, and so are the intervals, the methods (sum, avg,
// min, max, count, p50 ... p999 with carbon's interpolation and Python's
// float arithmetic), re-emission of an interval that got late values and
// forgetting after max_aggregation_intervals. A Graphite with rules emits
// each aggregate interval as a Bin whose Resolution is the rule's frequency
// and whose Value is carbon's; forward_all is carbon's FORWARD_ALL. Flush
// computes every aggregate at once, as carbon's own timer does for each
// buffer every frequency seconds. The goldens in testdata/carbon were made
// by carbon's own code (gen.sh there). Refused at parse time, where carbon
// would accept the rule and fail on every metric it matches: frequencies
// below 1 and output templates naming a group the input pattern lacks
// (an output "<<name>>" is one) or holding other '%' directives than "%%".
// Input-pattern regular expressions are Go's (RE2) rather than Python's:
// look-arounds and back-references are refused, \d \w \s are ASCII.
package aggregator
