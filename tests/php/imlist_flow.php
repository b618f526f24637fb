<?php
// PHP's SoapClient, generated from a WSDL, runs create-group / add-contact / list against a running
// openucs and prints what it parsed as JSON (tests/test_interop_people.py checks it).
// argv: wsdl, endpoint, user, password, group name, contact address
[$script, $wsdl, $endpoint, $user, $password, $group, $contact] = $argv;
$client = new SoapClient($wsdl, [
    'location' => $endpoint,
    'login' => $user,
    'password' => $password,
    'trace' => true,
    'exceptions' => true,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
]);
$version = new SoapHeader('http://schemas.microsoft.com/exchange/services/2006/types', 'RequestServerVersion',
    new SoapVar('<t:RequestServerVersion xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" Version="Exchange2013"/>', XSD_ANYXML));
$client->__setSoapHeaders([$version]);
$responses = [];
$added = $client->AddImGroup(['DisplayName' => $group]);
$responses[] = $client->__getLastResponse();
$groupId = $added->ImGroup->ExchangeStoreId;
$persona = $client->AddNewImContactToGroup([
    'ImAddress' => $contact,
    'GroupId' => ['Id' => $groupId->Id, 'ChangeKey' => $groupId->ChangeKey],
]);
$responses[] = $client->__getLastResponse();
$list = $client->GetImItemList([]);
$responses[] = $client->__getLastResponse();
$groups = [];
foreach ($list->ImItemList->Groups->ImGroup as $g) {
    $members = [];
    if (isset($g->MemberCorrelationKey)) {
        foreach ($g->MemberCorrelationKey->ItemId as $item) { $members[] = $item->Id; }
    }
    $groups[$g->DisplayName] = $members;
}
$personas = [];
foreach ($list->ImItemList->Personas->Persona as $p) {
    $personas[] = ['ImAddress' => $p->ImAddress, 'DisplayName' => $p->DisplayName,
                   'SourceId' => $p->Attributions->Attribution[0]->SourceId->Id];
}
echo json_encode([
    'added_group' => $added->ImGroup->DisplayName,
    'added_class' => $added->ResponseClass,
    'contact_source' => $persona->Persona->Attributions->Attribution[0]->SourceId->Id,
    'groups' => $groups,
    'personas' => $personas,
    'responses' => $responses,
]);
