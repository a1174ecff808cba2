// Package notify decides who hears about an alert and pushes it to them:
// routing (the sales owner and the marketing owners), and the websocket hub
// that delivers numbered, resumable alert frames to connected users.
//
// It is the only package that imports gorilla/websocket. It does not import
// detector, ingest, postgres or api; storage reaches it through the small
// interfaces declared here.
//
// It imports only: dowser, schema.
package notify
