<?xml version="1.0" encoding="UTF-8"?>
<!--
  sch_compile.xsl - compile an ISO Schematron schema (queryBinding xslt2), already through the include
  and abstract-pattern steps, into an XSLT 2.0 stylesheet that writes SVRL.

  Written for segur-conformance (Apache-2.0). It follows the processing model of the ISO Schematron
  "skeleton" (Rick Jelliffe, iso_svrl_for_xslt2.xsl), because the verdicts must match the ANS chain:
    * a phase (parameter, else schema/@defaultPhase, else #ALL) selects the active patterns; an unknown
      phase activates nothing (as in the skeleton);
    * every active pattern is one mode, applied from the document node; its rules become templates
      with priorities decreasing in document order, so within a pattern only the first matching rule
      fires on a node (this is what makes the VSM 1.4 "dead rules" dead);
    * pattern- and schema-level lets are global variables, rule-level lets are local variables;
    * rule/extends pulls in the body of the abstract rule it names;
    * assert -> svrl:failed-assert when the test is false, report -> svrl:successful-report when true,
      each with @location (an XPath to the context node), @test, @id, @role, @flag, @see, svrl:text.
  Additions, switched by parameters and outside the official verdict:
    * shadow-dead-rules: a rule whose @context repeats the context of an earlier rule of the same pattern
      can never fire; it is also compiled into a mode of its own, reported under an svrl:active-pattern
      carrying sc:shadow="dead-rule", so a harness can show those checks as warnings.
    * base-uri: written as xml:base on the generated stylesheet, so that relative document()/doc() paths
      of the schema resolve against the kit (as when the official chain writes X.xsl next to the .sch),
      wherever the generated file itself is cached.
    * visit-attributes: visit attribute nodes too (only needed when a rule context can match one).
-->
<xsl:stylesheet version="3.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:axsl="urn:segur-conformance:alias:xsl"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:sch="http://purl.oclc.org/dsdl/schematron"
    xmlns:svrl="http://purl.oclc.org/dsdl/svrl"
    xmlns:sc="urn:segur-conformance:schematron">

  <xsl:namespace-alias stylesheet-prefix="axsl" result-prefix="xsl"/>
  <xsl:output method="xml" indent="no" encoding="UTF-8"/>

  <xsl:param name="phase" as="xs:string" select="''"/>
  <xsl:param name="base-uri" as="xs:string" select="''"/>
  <xsl:param name="shadow-dead-rules" as="xs:string" select="'true'"/>
  <xsl:param name="visit-attributes" as="xs:string" select="'false'"/>

  <xsl:variable name="schema" select="/sch:schema" as="element(sch:schema)"/>
  <xsl:variable name="effective-phase" as="xs:string"
      select="if (normalize-space($phase)) then normalize-space($phase)
              else if ($schema/@defaultPhase) then normalize-space($schema/@defaultPhase) else '#ALL'"/>
  <xsl:variable name="active" as="element(sch:pattern)*"
      select="if ($effective-phase = '#ALL') then $schema//sch:pattern[not(@abstract = 'true')]
              else $schema//sch:pattern[not(@abstract = 'true')]
                   [@id = $schema/sch:phase[@id = $effective-phase]/sch:active/@pattern]"/>
  <xsl:variable name="dead" as="element(sch:rule)*"
      select="if ($shadow-dead-rules = 'true') then
                $active/sch:rule[@context][not(@abstract = 'true')]
                  [normalize-space(@context) = preceding-sibling::sch:rule[not(@abstract = 'true')]/normalize-space(@context)]
              else ()"/>
  <xsl:variable name="children" as="xs:string"
      select="if ($visit-attributes = 'true') then '@*|*' else '*'"/>
  <xsl:variable name="modes" as="xs:string"
      select="string-join((for $i in 1 to count($active) return concat('M', $i),
                           for $j in 1 to count($dead) return concat('D', $j)), ' ')"/>

  <xsl:template match="/">
    <xsl:if test="not(/sch:schema)">
      <xsl:message terminate="yes">sch_compile: the input is not an ISO Schematron schema</xsl:message>
    </xsl:if>
    <axsl:stylesheet version="2.0" exclude-result-prefixes="#all">
      <xsl:for-each-group select="$schema//sch:ns[@prefix and @uri]" group-by="@prefix">
        <xsl:if test="not(current-grouping-key() = ('xsl', 'xs', 'svrl', 'sc'))">
          <xsl:namespace name="{current-grouping-key()}" select="string(current-group()[1]/@uri)"/>
        </xsl:if>
      </xsl:for-each-group>
      <xsl:if test="$base-uri">
        <xsl:attribute name="xml:base" select="$base-uri"/>
      </xsl:if>
      <xsl:attribute name="sc:active-patterns" select="count($active)"/>
      <xsl:attribute name="sc:dead-rules" select="count($dead)"/>
      <xsl:attribute name="sc:phase" select="$effective-phase"/>
      <axsl:output method="xml" indent="no" encoding="UTF-8"/>

      <!-- schema-, phase- and pattern-level lets: global variables, as in the ISO skeleton -->
      <xsl:for-each select="$schema/sch:let | $schema/sch:phase[@id = $effective-phase]/sch:let | $active/sch:let">
        <xsl:apply-templates select="." mode="let"/>
      </xsl:for-each>

      <axsl:function name="sc:location" as="xs:string">
        <axsl:param name="n" as="node()"/>
        <axsl:variable name="steps" as="xs:string*">
          <axsl:for-each select="$n/ancestor-or-self::*">
            <axsl:variable name="ln" select="local-name()"/>
            <axsl:variable name="ns" select="namespace-uri()"/>
            <axsl:sequence select="concat('/',
                if ($ns = 'urn:hl7-org:v3') then concat('cda:', $ln)
                else if ($ns = '') then $ln
                else concat('*[local-name()=''', $ln, ''' and namespace-uri()=''', $ns, ''']'),
                '[', count(preceding-sibling::*[local-name() = $ln and namespace-uri() = $ns]) + 1, ']')"/>
          </axsl:for-each>
        </axsl:variable>
        <axsl:variable name="tail" as="xs:string"
            select="if ($n instance of attribute()) then
                      (if (namespace-uri($n) = '') then concat('/@', local-name($n))
                       else concat('/@*[local-name()=''', local-name($n), ''' and namespace-uri()=''', namespace-uri($n), ''']'))
                    else ''"/>
        <axsl:sequence select="if ($n instance of document-node()) then '/' else concat(string-join($steps, ''), $tail)"/>
      </axsl:function>

      <axsl:template match="/">
        <svrl:schematron-output>
          <xsl:attribute name="title" select="sc:avt(normalize-space(string-join($schema/sch:title//text(), '')))"/>
          <xsl:if test="$schema/@schemaVersion">
            <xsl:attribute name="schemaVersion" select="sc:avt($schema/@schemaVersion)"/>
          </xsl:if>
          <xsl:attribute name="phase" select="$effective-phase"/>
          <xsl:for-each select="$active">
            <svrl:active-pattern>
              <xsl:if test="@id"><xsl:attribute name="id" select="sc:avt(@id)"/></xsl:if>
              <xsl:if test="sch:title">
                <xsl:attribute name="name" select="sc:avt(normalize-space(string-join(sch:title//text(), '')))"/>
              </xsl:if>
            </svrl:active-pattern>
            <axsl:apply-templates select="/" mode="M{position()}"/>
          </xsl:for-each>
          <xsl:for-each select="$dead">
            <svrl:active-pattern id="{sc:avt(string(../@id))}" sc:shadow="dead-rule"/>
            <axsl:apply-templates select="/" mode="D{position()}"/>
          </xsl:for-each>
        </svrl:schematron-output>
      </axsl:template>

      <xsl:for-each select="$active">
        <xsl:variable name="mode" select="concat('M', position())"/>
        <xsl:variable name="rules" select="sch:rule[@context][not(@abstract = 'true')]"/>
        <xsl:for-each select="$rules">
          <xsl:apply-templates select="." mode="rule">
            <xsl:with-param name="mode" select="$mode"/>
            <xsl:with-param name="priority" select="1000 + count($rules) - position()"/>
          </xsl:apply-templates>
        </xsl:for-each>
      </xsl:for-each>
      <xsl:for-each select="$dead">
        <xsl:apply-templates select="." mode="rule">
          <xsl:with-param name="mode" select="concat('D', position())"/>
          <xsl:with-param name="priority" select="1000"/>
        </xsl:apply-templates>
      </xsl:for-each>

      <xsl:if test="$modes">
        <axsl:template match="text()" priority="-1" mode="{$modes}"/>
        <axsl:template match="@*|node()" priority="-2" mode="{$modes}">
          <axsl:apply-templates select="{$children}" mode="#current"/>
        </axsl:template>
      </xsl:if>
    </axsl:stylesheet>
  </xsl:template>

  <!-- ===== rules ===== -->

  <xsl:template match="sch:rule" mode="rule">
    <xsl:param name="mode" as="xs:string"/>
    <xsl:param name="priority" as="xs:integer"/>
    <axsl:template match="{@context}" priority="{$priority}" mode="{$mode}">
      <svrl:fired-rule context="{sc:avt(@context)}">
        <xsl:if test="@id"><xsl:attribute name="id" select="sc:avt(@id)"/></xsl:if>
        <xsl:if test="@role"><xsl:attribute name="role" select="sc:avt(@role)"/></xsl:if>
      </svrl:fired-rule>
      <xsl:apply-templates select="*" mode="body"/>
      <axsl:apply-templates select="{$children}" mode="{$mode}"/>
    </axsl:template>
  </xsl:template>

  <xsl:template match="sch:let" mode="let body">
    <xsl:choose>
      <xsl:when test="@value">
        <axsl:variable name="{@name}" select="{@value}"/>
      </xsl:when>
      <xsl:otherwise>
        <axsl:variable name="{@name}">
          <xsl:copy-of select="node()"/>
        </axsl:variable>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="sch:extends[@rule]" mode="body">
    <xsl:variable name="target" select="$schema//sch:rule[@abstract = 'true'][@id = current()/@rule]"/>
    <xsl:if test="not($target)">
      <xsl:message terminate="yes">sch_compile: extends names an unknown abstract rule "<xsl:value-of select="@rule"/>"</xsl:message>
    </xsl:if>
    <xsl:apply-templates select="$target[1]/*" mode="body"/>
  </xsl:template>

  <xsl:template match="sch:assert" mode="body">
    <axsl:choose>
      <axsl:when test="{@test}"/>
      <axsl:otherwise>
        <svrl:failed-assert test="{sc:avt(normalize-space(@test))}" location="{{sc:location(.)}}">
          <xsl:call-template name="rich-attributes"/>
          <svrl:text>
            <xsl:apply-templates select="node()" mode="text"/>
          </svrl:text>
        </svrl:failed-assert>
      </axsl:otherwise>
    </axsl:choose>
  </xsl:template>

  <xsl:template match="sch:report" mode="body">
    <axsl:if test="{@test}">
      <svrl:successful-report test="{sc:avt(normalize-space(@test))}" location="{{sc:location(.)}}">
        <xsl:call-template name="rich-attributes"/>
        <svrl:text>
          <xsl:apply-templates select="node()" mode="text"/>
        </svrl:text>
      </svrl:successful-report>
    </axsl:if>
  </xsl:template>

  <!-- titles, paragraphs, comments and foreign elements in a rule body generate nothing -->
  <xsl:template match="node()" mode="body"/>

  <xsl:template name="rich-attributes">
    <xsl:for-each select="@id | @role | @flag | @see">
      <xsl:attribute name="{local-name()}" select="sc:avt(.)"/>
    </xsl:for-each>
  </xsl:template>

  <!-- ===== assertion text ===== -->

  <xsl:template match="text()" mode="text">
    <axsl:text><xsl:value-of select="."/></axsl:text>
  </xsl:template>
  <xsl:template match="sch:value-of" mode="text">
    <axsl:value-of select="{@select}"/>
  </xsl:template>
  <xsl:template match="sch:name" mode="text">
    <axsl:value-of select="name({if (@path) then @path else '.'})"/>
  </xsl:template>
  <xsl:template match="*" mode="text">
    <xsl:apply-templates select="node()" mode="text"/>
  </xsl:template>
  <xsl:template match="comment() | processing-instruction()" mode="text"/>

  <!-- A literal value written into an attribute of a literal result element is read as an attribute
       value template by the XSLT processor: double the braces so that it stays literal. -->
  <xsl:function name="sc:avt" as="xs:string">
    <xsl:param name="s" as="xs:string?"/>
    <xsl:sequence select="replace(replace(string($s), '\{', '{{'), '\}', '}}')"/>
  </xsl:function>
</xsl:stylesheet>
