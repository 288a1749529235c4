// Command testimage is the HTTP server in the image docker.io/skiff/test-http:v1
// that the end-to-end tests run in pods. scripts/bundle builds it static and
// packs it in build/images/skiff-test-http.tar; tests copy that file into
// <data-dir>/agent/images/ so no registry is needed.
//
// It listens on :8080 (or :$PORT) and answers:
//
//	GET /               the pod's hostname
//	GET /healthz        200 "ok"
//	GET /echo?msg=x     x
//	GET /fetch?url=U    GETs U and answers 200 with the status code on the
//	                    first line and the body after it, or 502 with the
//	                    error: pod-to-service and pod-to-outside traffic
//	GET /api?path=P     GETs P from the Kubernetes API as an in-cluster
//	    [&host=H]       client does: at $KUBERNETES_SERVICE_HOST:PORT (or
//	                    H), with the pod's service-account token, trusting
//	                    only its ca.crt; answers like /fetch
//	GET /lookup?name=N  resolves N with Go's resolver, which reads the pod's
//	    [&type=A|AAAA]  /etc/resolv.conf (search path, ndots) as libc does,
//	                    and answers 200 with the addresses, one a line,
//	                    sorted; or 502 with the error: cluster DNS.
//	                    Concurrent requests each look up on their own.
//	GET /write?path=P&data=D  writes D to the file P (mode 0644) as the
//	                    container's user, and answers "ok": volumes
//	GET /read?path=P    the content of the file P, or 404 with the error
//	GET /dnsload?server=IP[:53]&name=N  sends DNS A queries for N over
//	    [&duration=10s][&concurrency=4] UDP to the server for the
//	                    duration, from that many workers, each sending
//	                    its next query once its last is answered or timed
//	                    out (1 s); answers JSON: queries, answered (with
//	                    an A record), errors (the rest), qps (answered a
//	                    second), p50_ms, p99_ms and max_ms of the
//	                    answered, rcodes, and the first error: cluster
//	                    DNS under load
//
// Each request is logged to stdout as one line. Run as "testimage exit N" it
// prints a line and exits with code N, to test restarts.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "exit" {
		code, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "exit wants a number, got %q\n", os.Args[2])
			os.Exit(2)
		}
		fmt.Printf("test-http: exiting with code %d\n", code)
		os.Exit(code)
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "usage: %s [exit N]\n", os.Args[0])
		os.Exit(2)
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort("", port),
		Handler:           logRequests(routes()),
		ReadHeaderTimeout: 10 * time.Second,
	}

	// As PID 1 in a container a signal without a handler is ignored: stop
	// on SIGTERM/SIGINT ourselves so pods delete promptly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()

	fmt.Printf("test-http: listening on %s\n", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "test-http: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("test-http: stopped")
}

func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		name, err := os.Hostname()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, name)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("msg"))
	})
	// No proxy from the environment: the point is to test the pod's own
	// network path.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	mux.HandleFunc("GET /fetch", func(w http.ResponseWriter, r *http.Request) {
		url := r.URL.Query().Get("url")
		if url == "" {
			http.Error(w, "fetch wants ?url=http://...", http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%d\n%s", resp.StatusCode, body)
	})
	mux.HandleFunc("GET /api", inClusterAPI)
	mux.HandleFunc("GET /lookup", lookup)
	mux.HandleFunc("GET /dnsload", dnsLoad)
	// Volumes: a pod writes, a later pod reads it back.
	mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		if path == "" {
			http.Error(w, "write wants ?path=/file&data=...", http.StatusBadRequest)
			return
		}
		if err := os.WriteFile(path, []byte(r.URL.Query().Get("data")), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	return mux
}

// lookup answers the addresses a name resolves to, sorted, one a line.
// type=A or AAAA asks for one family; without it, both.
func lookup(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	network := map[string]string{"": "ip", "A": "ip4", "AAAA": "ip6"}[strings.ToUpper(r.URL.Query().Get("type"))]
	if name == "" || network == "" {
		http.Error(w, "lookup wants ?name=N and optionally &type=A or &type=AAAA", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	// A resolver of its own: net.DefaultResolver merges concurrent lookups
	// of one name into one, so a query lost while cluster DNS was starting
	// would hold every later request until its 5 s timeout.
	ips, err := new(net.Resolver).LookupIP(ctx, network, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, ip.String())
	}
	slices.Sort(addrs)
	fmt.Fprintln(w, strings.Join(addrs, "\n"))
}

// statusWriter remembers the status code for the log line.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		fmt.Printf("%s %s %s %d\n", r.RemoteAddr, r.Method, r.URL.RequestURI(), sw.code)
	})
}

// The files every pod with a service account finds mounted.
const (
	saToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	saCA    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// inClusterAPI calls the API the way client-go's in-cluster config does,
// so that a test sees what operators and controllers in pods see.
func inClusterAPI(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	if host == "" {
		host = net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	}
	token, err := os.ReadFile(saToken)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ca, err := os.ReadFile(saCA)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		http.Error(w, "no certificate in "+saCA, http.StatusInternalServerError)
		return
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://"+host+r.URL.Query().Get("path"), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%d\n%s", resp.StatusCode, body)
}
