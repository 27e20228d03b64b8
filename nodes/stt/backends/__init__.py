"""Model backends of the STT node, one file each behind the Protocols in `nodes.stt.streaming`
and `nodes.stt.speakers`; heavy imports happen inside them."""
