"""The OpenAI Videos API on mora: the wire format (:mod:`.protocol`), the preview variants (:mod:`.variants`), and
the ``/v1/videos`` routes, so a program written for Sora runs against ``mora serve`` by changing ``base_url``."""
