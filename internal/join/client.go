package join

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/token"
)

// requestTimeout bounds one join request; retries are the caller's.
const requestTimeout = 15 * time.Second

// Refused is a refusal by the server that trying again will not change: a
// wrong token, a taken node name, a CA that is not the token's.
type Refused struct{ msg string }

func (e *Refused) Error() string { return e.msg }

// Client talks to one server's join endpoints, trusting only the CA that
// matched the token.
type Client struct {
	server       *url.URL
	tok          token.Token
	nodeName     string
	nodePassword string
	caPEM        []byte
	tls          *tls.Config
	http         *http.Client
	// offset is the server's clock minus this host's, as far as one
	// answer's Date header can tell; offsetKnown is false when the server
	// sent none.
	offset      time.Duration
	offsetKnown bool
}

// Identity is how a node names itself to the server.
type Identity struct {
	Name, Password string
}

// Connect fetches the server's CA from serverURL, checks it against the
// token's CA hash and returns a client that trusts that CA alone. A short
// token (no hash) trusts whatever CA the server sends, with a warning.
func Connect(ctx context.Context, serverURL string, tok token.Token, id Identity) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &Refused{fmt.Sprintf("--server %q is not an https:// URL; use the form https://<server>:6443", serverURL)}
	}
	u.Path = ""
	caPEM, offset, offsetKnown, err := fetchCACerts(ctx, u)
	if err != nil {
		return nil, err
	}
	if tok.CAHash == "" {
		klog.InfoS("WARNING: the token carries no CA hash, so the server's CA is trusted as it comes; use the full K10... token to have it checked", "server", u.String())
	} else if got := hex.EncodeToString(sum(caPEM)); got != tok.CAHash {
		return nil, &Refused{fmt.Sprintf("the CA of the server at %s does not match the CA hash in the token: the token belongs to another cluster (or something between here and the server answers for it); use this cluster's token", u)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &Refused{fmt.Sprintf("the server at %s sent no CA certificate at /cacerts", u)}
	}
	tlsConfig := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &Client{
		server: u, tok: tok, nodeName: id.Name, nodePassword: id.Password,
		caPEM: caPEM, tls: tlsConfig, offset: offset, offsetKnown: offsetKnown,
		http: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: nil}},
	}, nil
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// fetchCACerts reads /cacerts without verifying the server: the token's
// hash is what makes the answer trustworthy. It also measures the server's
// clock against this host's from the answer's Date header (see
// ClockOffset).
func fetchCACerts(ctx context.Context, u *url.URL) (caPEM []byte, offset time.Duration, offsetKnown bool, err error) {
	insecure := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // checked against the token's hash
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("/cacerts").String(), nil)
	if err != nil {
		return nil, 0, false, err
	}
	sent := time.Now()
	resp, err := insecure.Do(req)
	if err != nil {
		return nil, 0, false, fmt.Errorf("reaching the server at %s: %w", u, err)
	}
	received := time.Now()
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRequestBytes))
	if err != nil {
		return nil, 0, false, fmt.Errorf("reading %s/cacerts: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, false, fmt.Errorf("%s/cacerts answered %s", u, resp.Status)
	}
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		offset, offsetKnown = clockOffset(date, sent, received), true
	}
	return body, offset, offsetKnown, nil
}

// clockOffset is the smallest offset of the server's clock from this
// host's that agrees with one answer: the server wrote date (whole seconds,
// so its clock read somewhere in [date, date+1s)) while this host's clock
// went from sent to received. Latency and the header's coarseness thus
// never count as skew; what is left is a skew the clocks surely have.
func clockOffset(date, sent, received time.Time) time.Duration {
	// Wall clocks only: date has no monotonic reading, and the offset is
	// between wall clocks.
	sent, received = sent.Round(0), received.Round(0)
	switch {
	case date.After(received):
		return date.Sub(received)
	case date.Add(time.Second).Before(sent):
		return date.Add(time.Second).Sub(sent)
	}
	return 0
}

// ClockOffset is how far the server's clock is ahead of this host's
// (negative: behind), measured on the answer to /cacerts; ok is false when
// the server sent no Date header.
func (c *Client) ClockOffset() (offset time.Duration, ok bool) {
	return c.offset, c.offsetKnown
}

// CAPEM is the server CA the client trusts.
func (c *Client) CAPEM() []byte { return c.caPEM }

// TLSConfig trusts the server's CA only.
func (c *Client) TLSConfig() *tls.Config { return c.tls.Clone() }

// Header is what authenticates this node on every /v1-skiff request,
// including the tunnel's.
func (c *Client) Header() http.Header {
	h := http.Header{}
	req := &http.Request{Header: h}
	req.SetBasicAuth(c.tok.Username, c.tok.Password)
	if c.nodeName != "" {
		h.Set(HeaderNodeName, c.nodeName)
		h.Set(HeaderNodePassword, c.nodePassword)
	}
	return h
}

// Config is the cluster configuration the node must follow.
func (c *Client) Config(ctx context.Context) (ClusterInfo, error) {
	var info ClusterInfo
	return info, c.do(ctx, http.MethodGet, PathConfig, nil, &info)
}

// NodeCerts asks for the node's certificates.
func (c *Client) NodeCerts(ctx context.Context, req CertRequest) (CertResponse, error) {
	var resp CertResponse
	return resp, c.do(ctx, http.MethodPost, PathNodeCerts, req, &resp)
}

// ServerBootstrap fetches what a joining server needs; only the server
// token may.
func (c *Client) ServerBootstrap(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, PathServerBootstrap, nil, &raw)
	return raw, err
}

// Call sends in (JSON) to one of the server's routes for joining servers
// (see Server.ServerOnly) and reads its JSON answer into out; refusals are
// Refused, as for the join's own requests.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server.JoinPath(path).String(), body)
	if err != nil {
		return err
	}
	req.Header = c.Header()
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the server at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", path, c.server, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("reading %s from %s: %w", path, c.server, err)
		}
		return nil
	}
	return c.refusal(resp.StatusCode, strings.TrimSpace(string(data)))
}

// refusal turns an error status into the line the user sees: the ones that
// retrying cannot fix are Refused, the rest (a server still starting) are
// plain errors worth retrying.
func (c *Client) refusal(status int, msg string) error {
	switch status {
	case http.StatusUnauthorized:
		return &Refused{fmt.Sprintf("the server at %s refused the token: check --token (or SKIFF_TOKEN) against <data-dir>/server/token or agent-token on the server, or create a new one with `skiff token create`", c.server)}
	case http.StatusForbidden:
		return &Refused{fmt.Sprintf("the server at %s refused to let this token join a server: it is an agent token, which joins agents only; use the server token (<data-dir>/server/token on the first server)", c.server)}
	case http.StatusConflict:
		return &Refused{fmt.Sprintf("the server at %s says: %s; choose another name with --node-name, or add a unique suffix with --with-node-id", c.server, msg)}
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		return &Refused{fmt.Sprintf("the server at %s refused the request: %s", c.server, msg)}
	}
	return fmt.Errorf("the server at %s answered %d: %s", c.server, status, msg)
}

// IsRefused tells a final refusal from a failure worth retrying.
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}
