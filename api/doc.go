// Package api is Dowser's HTTP edge: authentication (bearer tokens and
// browser sessions), the REST resources, the websocket endpoint and the
// embedded web assets.
//
// Handlers only translate HTTP to calls on the store, the detector's signal
// parser and the notify hub; they hold no business logic of their own.
// Each handler group declares the small storage interface it needs
// (People, Directory, Signals, Alerts, Privacy), beside its handlers.
//
// It imports only: dowser, detector, formats, schema.
package api
