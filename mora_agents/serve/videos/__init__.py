"""The OpenAI Videos API on mora: the wire format (:mod:`.protocol`), the protocol's logic over the job service
(:mod:`.serving`), the preview variants (:mod:`.variants`), and the ``/v1/videos`` routes (:mod:`.api_router`), so a
program written for Sora runs against ``mora serve`` by changing ``base_url``."""
