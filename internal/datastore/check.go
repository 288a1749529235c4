package datastore

import (
	"context"
	"crypto/tls"
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
		case errors.Is(err, errRefused):
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
		case "28P01", "28000": // invalid password, or no pg_hba.conf entry
			return fmt.Errorf("%w skiff's credentials (%s: %s); check the user and password in --datastore-endpoint and the server's pg_hba.conf",
				errRefused, pgErr.Code, pgErr.Message)
		}
	}
	return err
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
		case 1044, 1045: // access denied to the database, or to the user
			return fmt.Errorf("%w skiff's credentials (%d: %s); check the user and password in --datastore-endpoint and the user's grants",
				errRefused, myErr.Number, myErr.Message)
		}
	}
	return err
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
		if isTLSRefusal(err) {
			return fmt.Errorf("%w the TLS connection (%v); check the endpoint's https:// and --datastore-cafile, --datastore-certfile and --datastore-keyfile", errRefused, err)
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
