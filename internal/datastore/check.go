package datastore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errRefused marks an answer that waiting will not change: the store is
// up and said no to skiff's credentials or certificate.
var errRefused = errors.New("refused")

// errUntrusted marks the other final answer: the store showed a
// certificate that --datastore-cafile (or the system's CAs) did not sign,
// or signed for another host.
var errUntrusted = errors.New("showed a certificate skiff does not trust")

// Check proves that the external datastore answers and takes skiff's
// credentials, before the server writes anything: a wrong password then
// costs one clear line and leaves the data dir as it was. A store that
// does not answer yet is waited for, up to Timeout (it may be starting
// with the machine); one that refuses the credentials fails at once.
// SQLite and NATS have nothing to check here.
func (d *Datastore) Check(ctx context.Context) error {
	if err := d.TLS.check(); err != nil {
		return err
	}
	if err := d.checkTLSParams(); err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(d.Endpoint, "://")
	var probe func(context.Context) error
	switch {
	case scheme == "postgres" || scheme == "postgresql":
		probe = d.probePostgres
	case scheme == "mysql":
		probe = d.probeMySQL
	case d.passthrough():
		probe = d.probeEtcd
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	for {
		try, cancelTry := context.WithTimeout(ctx, 5*time.Second)
		err := probe(try)
		cancelTry()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errRefused), errors.Is(err, errUntrusted):
			return fmt.Errorf("%s %s", Redact(d.describe()), oneLine(err))
		case ctx.Err() != nil:
			return fmt.Errorf("cannot reach %s after %s (%s); check that it is running and the endpoint is right",
				Redact(d.describe()), d.Timeout, oneLine(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// probePostgres logs in as kine will (the same URL, the TLS files as
// kine adds them) and logs out.
func (d *Datastore) probePostgres(ctx context.Context) error {
	u, err := url.Parse(d.Endpoint)
	if err != nil {
		return fmt.Errorf("%w: the endpoint is not a URL: %v; see --datastore-endpoint's examples in the README", errRefused, err)
	}
	q := u.Query()
	for param, file := range map[string]string{"sslrootcert": d.TLS.CAFile, "sslcert": d.TLS.CertFile, "sslkey": d.TLS.KeyFile} {
		if file != "" && !q.Has(param) {
			q.Set(param, file)
			if !q.Has("sslmode") {
				q.Set("sslmode", "verify-full")
			}
		}
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return fmt.Errorf("%w: %v; check --datastore-endpoint", errRefused, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000": // the database does not exist: kine creates it
			return nil
		case "28P01", "28000": // invalid password, no pg_hba.conf entry, or no client certificate
			return fmt.Errorf("%w skiff's credentials (%s: %s); check the user and password in --datastore-endpoint, --datastore-certfile and --datastore-keyfile, and the server's pg_hba.conf",
				errRefused, pgErr.Code, pgErr.Message)
		}
	}
	return tlsFailure(err, "")
}

// probeMySQL logs in as kine will and logs out.
func (d *Datastore) probeMySQL(ctx context.Context) error {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(d.Endpoint, "mysql://"))
	if err != nil {
		return fmt.Errorf("%w: %v; check --datastore-endpoint", errRefused, err)
	}
	if !d.TLS.Empty() {
		tlsCfg, err := d.clientTLS()
		if err != nil {
			return err
		}
		cfg.TLS = tlsCfg
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v; check --datastore-endpoint", errRefused, err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	err = db.PingContext(ctx)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1049: // unknown database: kine creates it
			return nil
		case 1044, 1045: // access denied to the database, or to the user (also one that must show a certificate)
			return fmt.Errorf("%w skiff's credentials (%d: %s); check the user and password in --datastore-endpoint, the user's grants, and whether it must show a client certificate (--datastore-certfile, --datastore-keyfile)",
				errRefused, myErr.Number, myErr.Message)
		}
	}
	if errors.Is(err, mysql.ErrNoTLS) {
		return fmt.Errorf("%w TLS (%v); leave --datastore-cafile, --datastore-certfile and --datastore-keyfile out, or turn TLS on in the server", errRefused, err)
	}
	return tlsFailure(err, "")
}

// probeEtcd asks each passed-through etcd endpoint for /health over the
// connection the apiserver will make (with the same TLS files). Any HTTP
// answer proves the connection; Ready checks the etcd API itself. The etcd
// client would hide a refused handshake behind a timeout.
func (d *Datastore) probeEtcd(ctx context.Context) error {
	tlsCfg, err := d.clientTLS()
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	var last error
	for _, ep := range strings.Split(d.Endpoint, ",") {
		if strings.HasPrefix(ep, "unix") {
			return nil // a local socket: nothing to learn from /health
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(ep, "/")+"/health", nil)
		if err != nil {
			return fmt.Errorf("%w: %v; check --datastore-endpoint", errRefused, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if err := tlsFailure(err, "the endpoint's https:// and "); errors.Is(err, errRefused) || errors.Is(err, errUntrusted) {
			return err
		}
		last = err
	}
	return last
}

// clientTLS is the TLS configuration of a client of the store, or nil
// when no file is given.
func (d *Datastore) clientTLS() (*tls.Config, error) {
	cfg, err := d.TLS.kine().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: loading the datastore's TLS files: %v; check --datastore-cafile, --datastore-certfile and --datastore-keyfile", errRefused, err)
	}
	return cfg, nil
}

// tlsFailure makes a failed TLS handshake a final answer, which waiting
// will not change, saying which side refused; any other err is returned
// as it is. check names what to check first.
func tlsFailure(err error, check string) error {
	if err == nil {
		return nil
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return fmt.Errorf("%w (%v); check that --datastore-cafile is the CA that signed the datastore's serving certificate, and that the endpoint's host is one the certificate names",
			errUntrusted, err)
	case isTLSRefusal(err):
		return fmt.Errorf("%w the TLS connection (%v); check %s--datastore-cafile, --datastore-certfile and --datastore-keyfile", errRefused, err, check)
	}
	return err
}

// isTLSRefusal tells a failed handshake (an unknown CA, a missing or
// refused client certificate, TLS spoken to plain HTTP) from a store that
// is not up yet.
func isTLSRefusal(err error) bool {
	s := err.Error()
	for _, sign := range []string{"certificate", "tls:", "handshake", "malformed HTTP response"} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

// oneLine is err's text on one line: pgx puts each address it tried on a
// line of its own, and a refusal is one line on stderr.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// checkTLSParams refuses an endpoint whose own TLS parameters would make
// kine ignore the TLS files, or not verify the store with them: kine
// keeps a PostgreSQL endpoint's sslmode (disable, allow and prefer do not
// verify the server, and may not use TLS at all), and go-sql-driver lets a
// MySQL endpoint's tls= take the place of the files' configuration.
func (d *Datastore) checkTLSParams() error {
	if d.TLS.Empty() {
		return nil
	}
	scheme, _, _ := strings.Cut(d.Endpoint, "://")
	switch scheme {
	case "postgres", "postgresql":
		u, err := url.Parse(d.Endpoint)
		if err != nil {
			return nil // the probe says what is wrong with it
		}
		switch mode := u.Query().Get("sslmode"); mode {
		case "disable", "allow", "prefer":
			return fmt.Errorf("--datastore-endpoint says sslmode=%s, which would not verify the datastore with --datastore-cafile (nor always use TLS); remove sslmode from it (the TLS files then make it verify-full) or set sslmode=verify-full", mode)
		}
	case "mysql":
		cfg, err := mysql.ParseDSN(strings.TrimPrefix(d.Endpoint, "mysql://"))
		if err != nil {
			return nil
		}
		if cfg.TLSConfig != "" {
			return fmt.Errorf("--datastore-endpoint says tls=%s, which would take the place of --datastore-cafile, --datastore-certfile and --datastore-keyfile; remove tls= from it: the files turn TLS on", cfg.TLSConfig)
		}
	}
	return nil
}
