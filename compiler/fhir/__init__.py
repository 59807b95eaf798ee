"""The FHIR back end: the resolved program -> a FHIR R4 Bundle."""
