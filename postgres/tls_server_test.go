package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser/postgres"
)

// TestOpenOverTLS starts a throwaway PostgreSQL that accepts only TLS
// connections with a client certificate, and opens the store the way
// docs/operations.md tells: sslmode=verify-full with sslrootcert, sslcert
// and sslkey in the URL. It needs PostgreSQL's server binaries, as the
// private test server does (scripts/postgres.sh installs them).
func TestOpenOverTLS(t *testing.T) {
	bin := serverBinaries(t)
	dir := t.TempDir()
	// The server refuses to run as root, and wants its key readable by
	// its own user only.
	asServer := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	chown := func(string) {}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		chown = func(p string) {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		asServer = func(name string, args ...string) *exec.Cmd {
			c := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
			c.Dir = "/"
			return c
		}
		// The server's user must reach the data folder: t.TempDir is
		// a folder of the test's own folder, both private to root.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	chown(data)
	if out, err := asServer("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	ca := newCA(t)
	server := ca.issue(t, "localhost", "127.0.0.1")
	client := ca.issue(t, "postgres", "")
	other := newCA(t)
	write := func(name string, data []byte, owned bool) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if owned {
			chown(p)
		}
		return p
	}
	caFile := write("ca.crt", ca.certPEM, true)
	serverCert := write("server.crt", server.certPEM, true)
	serverKey := write("server.key", server.keyPEM, true)
	clientCert := write("client.crt", client.certPEM, false)
	clientKey := write("client.key", client.keyPEM, false)
	otherCA := write("other-ca.crt", other.certPEM, false)
	// Only TLS, and only with a certificate the CA signed for the user.
	hba := write("pg_hba.conf", []byte("local all all trust\nhostssl all all 127.0.0.1/32 cert\n"), true)

	port := freePort(t)
	logFile := filepath.Join(data, "server.log")
	opts := strings.Join([]string{"-h 127.0.0.1", "-p", strconv.Itoa(port), "-k", data,
		"-c fsync=off -c ssl=on", "-c ssl_cert_file=" + serverCert, "-c ssl_key_file=" + serverKey,
		"-c ssl_ca_file=" + caFile, "-c hba_file=" + hba}, " ")
	// pg_ctl -w returns once the server accepts connections.
	if out, err := asServer("pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "120", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("starting PostgreSQL with TLS: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := asServer("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
			t.Errorf("stopping the TLS PostgreSQL: %v\n%s", err, out)
		}
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("server log:\n%s", log)
		}
	})

	base := fmt.Sprintf("postgres://postgres@localhost:%d/postgres", port)
	good := base + "?connect_timeout=30&sslmode=verify-full&sslrootcert=" + caFile + "&sslcert=" + clientCert + "&sslkey=" + clientKey
	ctx := context.Background()
	s, err := postgres.Open(ctx, good)
	if err != nil {
		t.Fatalf("Open over TLS with a client certificate: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating over TLS: %v", err)
	}
	c, err := pgx.Connect(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var ssl bool
	var clientDN string
	if err := c.QueryRow(ctx, "SELECT ssl, coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &clientDN); err != nil {
		t.Fatal(err)
	}
	if !ssl || !strings.Contains(clientDN, "postgres") {
		t.Errorf("connection ssl = %v, client DN %q; want TLS with the client certificate", ssl, clientDN)
	}

	for _, tc := range []struct {
		name, url, want string
	}{
		{"server certificate of another CA", base + "?connect_timeout=30&sslmode=verify-full&sslrootcert=" + otherCA + "&sslcert=" + clientCert + "&sslkey=" + clientKey, "certificate"},
		{"no client certificate", base + "?connect_timeout=30&sslmode=verify-full&sslrootcert=" + caFile, "certificate"},
		{"plain text", base + "?connect_timeout=30&sslmode=disable", "no encryption"},
	} {
		if s, err := postgres.Open(ctx, tc.url); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tc.name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}

// serverBinaries finds PostgreSQL's server binaries as scripts/postgres.sh
// does, or skips the test (fails it under DOWSER_REQUIRE_DB).
func serverBinaries(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	if os.Getenv("DOWSER_REQUIRE_DB") != "" {
		t.Fatal("PostgreSQL's server binaries (initdb) are not installed; `make test` installs them")
	}
	t.Skip("PostgreSQL's server binaries (initdb) are not installed")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testCA is a certificate authority for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

type testCert struct{ certPEM, keyPEM []byte }

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a certificate for cn, a server's when ip is set.
func (ca *testCA) issue(t *testing.T, cn, ip string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ip != "" {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{cn}
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}
