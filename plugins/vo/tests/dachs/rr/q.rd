<?xml version="1.0" encoding="utf-8"?>
<!-- A tiny RegTAP 1.1 registry (the rr schema: resource, res_role, capability, interface, res_subject)
filled from CSV, so pyvo.registry can search it through DaCHS's TAP service. The fixture in
esap_vo/testing.py renders data/*.csv from the templates beside this file, putting in
the server's base URL. -->
<resource schema="rr">
  <meta name="title">ESAP test registry</meta>
  <meta name="description">RegTAP tables describing the services of ESAP's test data centre.</meta>
  <meta name="creationDate">2024-01-01T00:00:00Z</meta>
  <meta name="subject">virtual-observatory</meta>
  <meta name="creator.name">ESAP tests</meta>

  <table id="resource" onDisk="True" adql="True" primary="ivoid">
    <column name="ivoid" type="text" ucd="meta.ref.ivoid" description="Resource identifier"/>
    <column name="res_type" type="text" description="Resource type (vs:catalogservice...)"/>
    <column name="created" type="timestamp" description="Creation date"/>
    <column name="short_name" type="text" description="Short name"/>
    <column name="res_title" type="text" ucd="meta.title" description="Title"/>
    <column name="updated" type="timestamp" description="Last update"/>
    <column name="content_level" type="text" description="Intended audience (hash list)"/>
    <column name="res_description" type="text" ucd="meta.note" description="Description"/>
    <column name="reference_url" type="text" ucd="meta.ref.url" description="Documentation"/>
    <column name="creator_seq" type="text" description="Creators, semicolon-separated"/>
    <column name="content_type" type="text" description="Content types (hash list)"/>
    <column name="source_format" type="text" description="Format of source_value"/>
    <column name="source_value" type="text" description="Bibliographic source"/>
    <column name="res_version" type="text" description="Version"/>
    <column name="region_of_regard" type="real" unit="deg" description="Spatial resolution"/>
    <column name="waveband" type="text" description="Wavebands (hash list)"/>
    <column name="rights" type="text" description="Rights statement"/>
    <column name="rights_uri" type="text" description="Rights URI"/>
    <column name="harvested_from" type="text" description="Registry harvested from"/>
  </table>

  <table id="capability" onDisk="True" adql="True" primary="ivoid, cap_index">
    <column name="ivoid" type="text" description="Resource identifier"/>
    <column name="cap_index" type="smallint" required="True" description="Capability index"/>
    <column name="cap_name" type="text" description="Capability name"/>
    <column name="cap_type" type="text" description="Capability type"/>
    <column name="cap_description" type="text" description="Capability description"/>
    <column name="standard_id" type="text" description="Standard implemented"/>
  </table>

  <table id="interface" onDisk="True" adql="True" primary="ivoid, cap_index, intf_index">
    <column name="ivoid" type="text" description="Resource identifier"/>
    <column name="cap_index" type="smallint" required="True" description="Capability index"/>
    <column name="intf_index" type="smallint" required="True" description="Interface index"/>
    <column name="intf_type" type="text" description="Interface type"/>
    <column name="intf_role" type="text" description="Interface role (std for standard)"/>
    <column name="std_version" type="text" description="Standard version"/>
    <column name="query_type" type="text" description="HTTP methods (hash list)"/>
    <column name="result_type" type="text" description="Result MIME type"/>
    <column name="wsdl_url" type="text" description="WSDL URL"/>
    <column name="url_use" type="text" description="How to use access_url"/>
    <column name="access_url" type="text" ucd="meta.ref.url" description="Access URL"/>
    <column name="mirror_url" type="text" description="Mirror URLs (hash list)"/>
    <column name="authenticated_only" type="smallint" description="1 if login is needed"/>
    <column name="security_method_id" type="text" description="Security method"/>
  </table>

  <table id="res_subject" onDisk="True" adql="True">
    <column name="ivoid" type="text" description="Resource identifier"/>
    <column name="res_subject" type="text" description="Subject keyword"/>
  </table>

  <table id="res_role" onDisk="True" adql="True">
    <column name="ivoid" type="text" description="Resource identifier"/>
    <column name="role_name" type="text" description="Name of the person or organisation"/>
    <column name="role_ivoid" type="text" description="Identifier of the role's registry record"/>
    <column name="street_address" type="text" description="Postal address"/>
    <column name="email" type="text" description="E-mail address"/>
    <column name="telephone" type="text" description="Telephone number"/>
    <column name="logo" type="text" description="URL of a logo"/>
    <column name="role_index" type="smallint" description="Position among roles of this kind"/>
    <column name="base_role" type="text" description="contact, publisher or creator"/>
  </table>

  <data id="import_resource">
    <sources>data/resource.csv</sources>
    <csvGrammar/>
    <make table="resource"/>
  </data>

  <data id="import_capability">
    <sources>data/capability.csv</sources>
    <csvGrammar/>
    <make table="capability"/>
  </data>

  <data id="import_interface">
    <sources>data/interface.csv</sources>
    <csvGrammar/>
    <make table="interface"/>
  </data>

  <data id="import_res_subject">
    <sources>data/res_subject.csv</sources>
    <csvGrammar/>
    <make table="res_subject"/>
  </data>

  <data id="import_res_role">
    <sources>data/res_role.csv</sources>
    <csvGrammar/>
    <make table="res_role"/>
  </data>
</resource>
