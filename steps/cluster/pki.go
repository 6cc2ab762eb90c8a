package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// clusterCA is the certificate authority of a cluster. dind-cluster makes
// it before kubeadm init, which uses a CA it finds in place, so that the
// workers can be given the CA with their files and join by file discovery:
// joining by token waited up to 5s for the controller-manager to sign the
// cluster-info ConfigMap, and could not verify the API server.
type clusterCA struct {
	Cert []byte // PEM
	Key  []byte // PEM
}

// newClusterCA makes a CA as kubeadm would: ECDSA P-256, 10 years.
func newClusterCA(now time.Time) (clusterCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return clusterCA{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return clusterCA{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             now.Add(-time.Minute).UTC(),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return clusterCA{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return clusterCA{}, err
	}
	return clusterCA{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// kubeletCredentials are the client certificate and key of node name's
// kubelet, in the one PEM file kubelet keeps them in, signed by ca for a
// year as the controller-manager would sign them. A worker given them joins
// without TLS bootstrapping: no certificate request waits for the
// controller-manager, and the kubelet's first requests already succeed
// (kubelet's informers started on anonymous credentials and backed off,
// leaving kube-proxy without service data for its first 10s).
func (ca clusterCA) kubeletCredentials(name string, now time.Time) ([]byte, error) {
	caCert, caKey, err := ca.parse()
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		NotBefore:    now.Add(-time.Minute).UTC(),
		NotAfter:     now.Add(365 * 24 * time.Hour).UTC(),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...), nil
}

// parse reads the CA's certificate and key.
func (ca clusterCA) parse() (*x509.Certificate, any, error) {
	cert, err := parseCACert(ca.Cert)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(ca.Key)
	if block == nil {
		return nil, nil, fmt.Errorf("the cluster's CA has no PEM key")
	}
	var key any
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the cluster's CA key: %w", err)
	}
	return cert, key, nil
}

// parseCACert reads pemCert, which must hold a CA certificate.
func parseCACert(pemCert []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemCert)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	return cert, nil
}
