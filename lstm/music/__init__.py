"""Music out of a trained model: sampling, rendering tokens to MIDI, music metrics, piano rolls."""
