package metricsserver

import (
	"net"
	"strings"
	"testing"
	"time"
)

// Every required field is named when missing, the timings default to
// 15 s and 10 s, and upstream's rules on them hold.
func TestConfigWithDefaults(t *testing.T) {
	base := validConfig(t)
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string // empty: valid
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "no kubeconfig", edit: func(c *Config) { c.Kubeconfig = "" }, wantErr: "Config.Kubeconfig"},
		{name: "no CA", edit: func(c *Config) { c.ServerCA = nil }, wantErr: "Config.ServerCA"},
		{name: "no cert dir", edit: func(c *Config) { c.CertDir = "" }, wantErr: "Config.CertDir"},
		{name: "no kubelet key", edit: func(c *Config) { c.KubeletClientKey = "" }, wantErr: "KubeletClientKey"},
		{name: "port zero", edit: func(c *Config) { c.Port = 0 }, wantErr: "out of range"},
		{name: "port too high", edit: func(c *Config) { c.Port = 65536 }, wantErr: "out of range"},
		{name: "no address", edit: func(c *Config) { c.AdvertiseIP = nil }, wantErr: "Config.AdvertiseIP"},
		{name: "unspecified address", edit: func(c *Config) { c.AdvertiseIP = net.IPv4zero }, wantErr: "Config.AdvertiseIP"},
		{name: "no identity", edit: func(c *Config) { c.Identity = "" }, wantErr: "Config.Identity"},
		{name: "bad bind address", edit: func(c *Config) { c.BindAddress = "example.com" }, wantErr: "not an IP"},
		{name: "bind address", edit: func(c *Config) { c.BindAddress = "10.0.0.1" }},
		{name: "resolution below 10s", edit: func(c *Config) { c.MetricResolution = 5 * time.Second; c.ScrapeTimeout = time.Second }, wantErr: "below 10s"},
		{name: "timeout too close to resolution", edit: func(c *Config) { c.MetricResolution = 10 * time.Second }, wantErr: "nine tenths"},
		{name: "negative timeout", edit: func(c *Config) { c.ScrapeTimeout = -time.Second }, wantErr: "positive"},
		{name: "own timings", edit: func(c *Config) { c.MetricResolution = time.Minute; c.ScrapeTimeout = 20 * time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			got, err := c.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("withDefaults() = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults(): %v", err)
			}
			if c.MetricResolution == 0 && got.MetricResolution != 15*time.Second {
				t.Errorf("resolution %v, want 15s by default", got.MetricResolution)
			}
			if c.ScrapeTimeout == 0 && got.ScrapeTimeout != 10*time.Second {
				t.Errorf("scrape timeout %v, want 10s by default", got.ScrapeTimeout)
			}
			if c.MetricResolution != 0 && got.MetricResolution != c.MetricResolution {
				t.Errorf("resolution %v, want the given %v", got.MetricResolution, c.MetricResolution)
			}
		})
	}
}

// The server listens on the bind address, every address by default, and
// probes itself where it listens.
func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		bind, wantListen string
		listening        net.Addr
		wantProbe        string
	}{
		{"", "0.0.0.0:6445", &net.TCPAddr{IP: net.IPv4zero, Port: 6445}, "127.0.0.1:6445"},
		{"::", "[::]:6445", &net.TCPAddr{IP: net.IPv6unspecified, Port: 6445}, "127.0.0.1:6445"},
		{"10.0.0.1", "10.0.0.1:6445", &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 6445}, "10.0.0.1:6445"},
		{"fd00::1", "[fd00::1]:6445", &net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 6445}, "[fd00::1]:6445"},
	} {
		c := Config{BindAddress: tc.bind, Port: 6445}
		if got := c.listenAddress(); got != tc.wantListen {
			t.Errorf("bind %q: listen on %s, want %s", tc.bind, got, tc.wantListen)
		}
		if got := probeAddress(tc.listening); got != tc.wantProbe {
			t.Errorf("listening on %s: probe %s, want %s", tc.listening, got, tc.wantProbe)
		}
	}
}
