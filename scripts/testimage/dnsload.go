package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// loadResult is what /dnsload answers.
type loadResult struct {
	Server      string         `json:"server"`
	Name        string         `json:"name"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Queries     int            `json:"queries"`
	Answered    int            `json:"answered"` // NOERROR with an A record
	Errors      int            `json:"errors"`   // timeouts, network errors, other answers
	QPS         float64        `json:"qps"`      // answered a second
	P50ms       float64        `json:"p50_ms"`   // over the answered queries
	P99ms       float64        `json:"p99_ms"`
	Maxms       float64        `json:"max_ms"`
	Rcodes      map[string]int `json:"rcodes"`
	FirstError  string         `json:"first_error,omitempty"`
}

// dnsLoad sends A queries for name to server from concurrency workers,
// each on its own UDP socket and waiting for its answer (or a timeout of
// a second) before it sends its next query, for duration.
func dnsLoad(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	server, name := q.Get("server"), q.Get("name")
	if server == "" || name == "" {
		http.Error(w, "dnsload wants ?server=IP[:port]&name=N and optionally &duration=10s&concurrency=4", http.StatusBadRequest)
		return
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	duration, concurrency := 10*time.Second, 4
	if v := q.Get("duration"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 10*time.Minute {
			http.Error(w, "duration: want a Go duration up to 10m, got "+strconv.Quote(v), http.StatusBadRequest)
			return
		}
		duration = d
	}
	if v := q.Get("concurrency"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 || c > 1024 {
			http.Error(w, "concurrency: want 1 to 1024, got "+strconv.Quote(v), http.StatusBadRequest)
			return
		}
		concurrency = c
	}

	res := loadResult{Server: server, Name: dns.Fqdn(name), Concurrency: concurrency, Rcodes: map[string]int{}}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(duration)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, queries, errs, rcodes, first := dnsWorker(server, res.Name, end)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			res.Queries += queries
			res.Errors += errs
			for k, v := range rcodes {
				res.Rcodes[k] += v
			}
			if res.FirstError == "" {
				res.FirstError = first
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Answered = len(all)
	res.QPS = float64(len(all)) / res.Seconds
	if len(all) > 0 {
		slices.Sort(all)
		res.P50ms = ms(percentile(all, 50))
		res.P99ms = ms(percentile(all, 99))
		res.Maxms = ms(all[len(all)-1])
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// dnsWorker queries until end: the latencies of the queries answered with
// an A record, how many it sent, how many failed, the rcodes it got and
// the first error.
func dnsWorker(server, name string, end time.Time) (lat []time.Duration, queries, errs int, rcodes map[string]int, first string) {
	rcodes = map[string]int{}
	fail := func(msg string) {
		errs++
		if first == "" {
			first = msg
		}
	}
	c, err := net.Dial("udp", server)
	if err != nil {
		fail(err.Error())
		return
	}
	defer c.Close()
	conn := &dns.Conn{Conn: c}
	client := &dns.Client{Net: "udp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	for time.Now().Before(end) {
		m.Id = dns.Id()
		queries++
		resp, rtt, err := client.ExchangeWithConn(m, conn)
		if err != nil {
			fail(err.Error())
			continue
		}
		rcodes[dns.RcodeToString[resp.Rcode]]++
		if resp.Rcode != dns.RcodeSuccess || !hasA(resp) {
			fail(fmt.Sprintf("%s from %s for %s", dns.RcodeToString[resp.Rcode], server, name))
			continue
		}
		lat = append(lat, rtt)
	}
	return
}

func hasA(m *dns.Msg) bool {
	for _, rr := range m.Answer {
		if _, ok := rr.(*dns.A); ok {
			return true
		}
	}
	return false
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
