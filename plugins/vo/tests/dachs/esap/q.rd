<?xml version="1.0" encoding="utf-8"?>
<!-- ESAP's test data for DaCHS: a generated source catalogue with a cone search, a small
ObsCore-like table, and the files the access URLs point at. The fixture in
esap_vo/testing.py writes data/*.csv and files/ before importing this. -->
<resource schema="esap">
  <meta name="title">ESAP test catalogue</meta>
  <meta name="description">A small generated catalogue of sources and observations for ESAP's tests.</meta>
  <meta name="creationDate">2024-01-01T00:00:00Z</meta>
  <meta name="subject">stars</meta>
  <meta name="creator.name">ESAP tests</meta>
  <meta name="contentLevel">Research</meta>
  <meta name="type">Catalog</meta>
  <meta name="coverage.waveband">Optical</meta>

  <table id="sources" onDisk="True" adql="True" primary="name" mixin="//scs#q3cindex">
    <meta name="description">Generated point sources.</meta>
    <column name="name" type="text" ucd="meta.id;meta.main" verbLevel="1"
      description="Source name"/>
    <column name="ra" type="double precision" unit="deg" ucd="pos.eq.ra;meta.main" verbLevel="1"
      description="Right ascension (ICRS)"/>
    <column name="dec" type="double precision" unit="deg" ucd="pos.eq.dec;meta.main" verbLevel="1"
      description="Declination (ICRS)"/>
    <column name="mag" type="real" unit="mag" ucd="phot.mag;em.opt.V" verbLevel="1"
      description="V magnitude"/>
    <column name="access_url" type="text" ucd="meta.ref.url" verbLevel="1"
      description="Where the source's spectrum is"/>
  </table>

  <table id="obs" onDisk="True" adql="True" primary="obs_id">
    <meta name="description">Generated observations, with ObsCore column names.</meta>
    <column name="obs_id" type="text" ucd="meta.id" description="Observation identifier"/>
    <column name="obs_collection" type="text" ucd="meta.id" description="Collection"/>
    <column name="target_name" type="text" ucd="meta.id;src" description="Observed target"/>
    <column name="dataproduct_type" type="text" ucd="meta.code.class" description="Kind of data"/>
    <column name="s_ra" type="double precision" unit="deg" ucd="pos.eq.ra" description="Centre RA"/>
    <column name="s_dec" type="double precision" unit="deg" ucd="pos.eq.dec" description="Centre Dec"/>
    <column name="s_fov" type="double precision" unit="deg" ucd="phys.angSize;instr.fov"
      description="Field of view"/>
    <column name="access_url" type="text" ucd="meta.ref.url" description="Where the data is"/>
    <column name="access_format" type="text" ucd="meta.code.mime" description="Format of the data"/>
  </table>

  <data id="import_sources">
    <sources>data/sources.csv</sources>
    <csvGrammar/>
    <make table="sources"/>
  </data>

  <data id="import_obs">
    <sources>data/obs.csv</sources>
    <csvGrammar/>
    <make table="obs"/>
  </data>

  <service id="cone" allowed="form,scs.xml">
    <meta name="title">ESAP test cone search</meta>
    <meta name="shortName">esap cone</meta>
    <meta name="testQuery.ra">10</meta>
    <meta name="testQuery.dec">10</meta>
    <meta name="testQuery.sr">1</meta>
    <scsCore queriedTable="sources">
      <FEED source="//scs#coreDescs"/>
    </scsCore>
  </service>

  <service id="files" allowed="static">
    <meta name="title">ESAP test files</meta>
    <property name="staticData">files</property>
    <nullCore/>
  </service>
</resource>
