"""mora's own job API: any SOP, human review over HTTP, an event stream per job."""
