// Command netperf is the tiny TCP benchmark that scripts/bench/agent runs
// between two pods, two node containers and two plain containers: the same
// binary on every path, so only the path differs.
//
//	netperf server [-listen :5201]
//	netperf client -addr HOST:5201 [-pings 2000] [-duration 10s] [-streams 1]
//
// The client measures, over one connection each:
//
//   - request/response latency: -pings round trips of one byte (as
//     netperf's TCP_RR), with Nagle off, after 100 to warm up;
//   - throughput: -streams connections that each send for -duration; the
//     server counts what it received and sends the count back when the
//     client half-closes, so the figure is bytes that arrived.
//
// It prints one JSON line (see result).
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

const (
	modePing   = 'P'
	modeStream = 'S'
)

// result is what the client prints. Latencies are in microseconds.
type result struct {
	DialMicros float64 `json:"dial_us"`
	Pings      int     `json:"pings"`
	P50        float64 `json:"rtt_p50_us"`
	P90        float64 `json:"rtt_p90_us"`
	P99        float64 `json:"rtt_p99_us"`
	Mean       float64 `json:"rtt_mean_us"`
	Streams    int     `json:"streams"`
	Seconds    float64 `json:"seconds"`
	Bytes      int64   `json:"bytes"`
	Gbps       float64 `json:"gbit_per_s"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		fs := flag.NewFlagSet("server", flag.ExitOnError)
		listen := fs.String("listen", ":5201", "address to listen on")
		fs.Parse(os.Args[2:])
		err = serve(*listen)
	case "client":
		fs := flag.NewFlagSet("client", flag.ExitOnError)
		addr := fs.String("addr", "", "server address, HOST:PORT")
		pings := fs.Int("pings", 2000, "request/response round trips")
		duration := fs.Duration("duration", 10*time.Second, "how long each stream sends")
		streams := fs.Int("streams", 1, "parallel streams for the throughput")
		fs.Parse(os.Args[2:])
		if *addr == "" || *pings < 1 || *streams < 1 {
			usage()
		}
		var r result
		r, err = client(*addr, *pings, *duration, *streams)
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(r)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netperf:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: netperf server [-listen :5201] | netperf client -addr HOST:PORT [-pings N] [-duration D] [-streams N]")
	os.Exit(2)
}

func serve(listen string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("netperf: listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if err := handle(c.(*net.TCPConn)); err != nil {
				fmt.Fprintln(os.Stderr, "netperf:", c.RemoteAddr(), err)
			}
		}()
	}
}

func handle(c *net.TCPConn) error {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return err
	}
	switch mode[0] {
	case modePing:
		var b [1]byte
		for {
			if _, err := io.ReadFull(c, b[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if _, err := c.Write(b[:]); err != nil {
				return err
			}
		}
	case modeStream:
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		_, err = c.Write(b[:])
		return err
	}
	return fmt.Errorf("unknown mode %q", mode[0])
}

func client(addr string, pings int, duration time.Duration, streams int) (result, error) {
	r := result{Pings: pings, Streams: streams}

	// Latency.
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return r, err
	}
	r.DialMicros = micros(time.Since(start))
	defer c.Close()
	if _, err := c.Write([]byte{modePing}); err != nil {
		return r, err
	}
	rtts := make([]time.Duration, 0, pings)
	b := []byte{1}
	var sum time.Duration
	for i := range pings + 100 {
		t := time.Now()
		if _, err := c.Write(b); err != nil {
			return r, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return r, err
		}
		if i >= 100 {
			d := time.Since(t)
			rtts = append(rtts, d)
			sum += d
		}
	}
	slices.Sort(rtts)
	pct := func(q float64) float64 { return micros(rtts[min(len(rtts)-1, int(q*float64(len(rtts))))]) }
	r.P50, r.P90, r.P99 = pct(0.50), pct(0.90), pct(0.99)
	r.Mean = micros(sum / time.Duration(len(rtts)))

	// Throughput.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start = time.Now()
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := stream(addr, duration)
			mu.Lock()
			defer mu.Unlock()
			r.Bytes += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	r.Seconds = time.Since(start).Seconds()
	r.Gbps = float64(r.Bytes) * 8 / r.Seconds / 1e9
	return r, nil
}

// stream sends for d and returns how many bytes the server counted.
func stream(addr string, d time.Duration) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	buf[0] = modeStream
	if _, err := c.Write(buf[:1]); err != nil {
		return 0, err
	}
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	var n [8]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return 0, fmt.Errorf("reading the server's byte count: %w", err)
	}
	return int64(binary.BigEndian.Uint64(n[:])), nil
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
